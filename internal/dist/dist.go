// Package dist runs collectives between the processes of a data-parallel job through
// libtorch's own c10d library — the TCPStore rendezvous and ProcessGroupGloo that
// torch.distributed uses — so nothing here reimplements a collective.
//
// One process per rank calls Init with the same master address and world size; rank 0
// serves the TCPStore there. AllReduce, Broadcast, AllGather and Barrier then act on the
// tensors of every rank (dense, contiguous, CPU; the same shape and dtype on every rank).
// Every C++ exception comes back as a Go error, and every collective gives up after the
// group's Timeout: a lost peer is an error, never a hang or an abort. When a collective
// fails, the group names the ranks that stopped answering (see PeerError): every rank
// bumps a heartbeat counter in the store twice a second, and a rank whose counter stands
// still is gone.
//
// The backend is one option (Config.Backend): "gloo", the only one Debian's CPU-only
// libtorch has. NCCL (CUDA) and MPI would slot in at the same place where libtorch has
// them.
package dist

// #cgo CXXFLAGS: -std=c++17 -DUSE_C10D_GLOO
// #cgo LDFLAGS: -ltorch_cpu -lc10
// #include <stdlib.h>
// #include "dist.h"
import "C"

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/internal/torch"
)

// DefaultTimeout is the collective and rendezvous timeout when Config.Timeout is zero.
const DefaultTimeout = 5 * time.Minute

// heartbeat is how often each rank bumps its counter in the store.
const heartbeat = 500 * time.Millisecond

// Config says where the job's rendezvous is and which rank this process is.
type Config struct {
	Rank, World int
	// MasterAddr and MasterPort locate the TCPStore that rank 0 serves (torchrun's
	// MASTER_ADDR and MASTER_PORT).
	MasterAddr string
	MasterPort int
	// Backend is the process group's library; only "gloo" is built in (empty means gloo).
	Backend string
	// Timeout bounds the rendezvous and every collective (DefaultTimeout when 0).
	Timeout time.Duration
	// Interface names the network interface gloo binds (GLOO_SOCKET_IFNAME); otherwise
	// gloo binds the loopback address when the master is local, else the address this
	// machine's host name resolves to (as torch.distributed does).
	Interface string
}

// Validate checks the settings.
func (c Config) Validate() error {
	var errs []error
	if c.World < 1 {
		errs = append(errs, fmt.Errorf("world size must be >= 1, got %d", c.World))
	}
	if c.Rank < 0 || c.Rank >= max(c.World, 1) {
		errs = append(errs, fmt.Errorf("rank must be in [0, %d), got %d", c.World, c.Rank))
	}
	if c.MasterAddr == "" {
		errs = append(errs, errors.New("no master address (MASTER_ADDR or --master)"))
	}
	if c.MasterPort < 1 || c.MasterPort > 65535 {
		errs = append(errs, fmt.Errorf("master port must be in [1, 65535], got %d", c.MasterPort))
	}
	if c.Backend != "" && c.Backend != "gloo" {
		errs = append(errs, fmt.Errorf("backend %q is not available: this libtorch has gloo only (NCCL needs a CUDA build)", c.Backend))
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("timeout must be >= 0, got %s", c.Timeout))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("dist: %w", err)
	}
	return nil
}

// Op is a reduction.
type Op int

// The reductions of AllReduce.
const (
	Sum Op = C.SSD_DIST_SUM
	Max Op = C.SSD_DIST_MAX
	Min Op = C.SSD_DIST_MIN
)

// Group is this process's membership of the job. Its collectives must be called in the
// same order by every rank, from one goroutine at a time.
type Group struct {
	cfg   Config
	store *C.ssd_store // main-goroutine client: rendezvous, diagnosis
	pg    *C.ssd_dist
	hb    *C.ssd_store // the heartbeat goroutine's own connection
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once
}

// PeerError is a collective that failed because ranks of the job went away.
type PeerError struct {
	Op    string // the collective
	Ranks []int  // the ranks whose heartbeat stopped; empty when none could be named
	Host  bool   // the store host (rank 0) is unreachable
	Err   error  // libtorch's error
}

func (e *PeerError) Error() string {
	var who string
	switch {
	case e.Host:
		who = "rank 0 (the rendezvous host) is gone"
	case len(e.Ranks) == 1:
		who = fmt.Sprintf("rank %d stopped answering", e.Ranks[0])
	case len(e.Ranks) > 1:
		s := make([]string, len(e.Ranks))
		for i, r := range e.Ranks {
			s[i] = strconv.Itoa(r)
		}
		who = "ranks " + strings.Join(s, ", ") + " stopped answering"
	default:
		who = "a peer failed"
	}
	return fmt.Sprintf("dist: %s failed: %s: %v", e.Op, who, e.Err)
}

func (e *PeerError) Unwrap() error { return e.Err }

// Init joins the job: rank 0 starts the TCPStore at the master address, every rank
// connects to it, and the gloo process group connects every pair of ranks. It returns
// when all World ranks have joined, or an error after the timeout.
func Init(cfg Config) (*Group, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	ms := C.int64_t(cfg.Timeout.Milliseconds())
	host := C.CString(cfg.MasterAddr)
	defer C.free(unsafe.Pointer(host))
	var cerr *C.char
	store := C.ssd_store_new(host, C.int(cfg.MasterPort), cbool(cfg.Rank == 0), C.int(cfg.World), ms, &cerr)
	if store == nil {
		return nil, fmt.Errorf("dist: rank %d: rendezvous at %s: %w", cfg.Rank, net.JoinHostPort(cfg.MasterAddr, strconv.Itoa(cfg.MasterPort)), takeErr(cerr))
	}
	hb := C.ssd_store_new(host, C.int(cfg.MasterPort), 0, C.int(cfg.World), ms, &cerr)
	if hb == nil {
		C.ssd_store_free(store)
		return nil, fmt.Errorf("dist: rank %d: rendezvous at %s: %w", cfg.Rank, net.JoinHostPort(cfg.MasterAddr, strconv.Itoa(cfg.MasterPort)), takeErr(cerr))
	}
	prefix := C.CString("pg/")
	defer C.free(unsafe.Pointer(prefix))
	iface := C.CString(cfg.Interface)
	defer C.free(unsafe.Pointer(iface))
	bind := ""
	if cfg.Interface == "" && isLoopback(cfg.MasterAddr) {
		bind = "127.0.0.1"
	}
	bindC := C.CString(bind)
	defer C.free(unsafe.Pointer(bindC))
	pg := C.ssd_dist_new(store, prefix, C.int(cfg.Rank), C.int(cfg.World), iface, bindC, ms, &cerr)
	if pg == nil {
		C.ssd_store_free(hb)
		C.ssd_store_free(store)
		return nil, fmt.Errorf("dist: rank %d of %d: process group (gloo): %w", cfg.Rank, cfg.World, takeErr(cerr))
	}
	g := &Group{cfg: cfg, store: store, pg: pg, hb: hb, stop: make(chan struct{}), done: make(chan struct{})}
	go g.beat()
	return g, nil
}

// InitContext is Init that gives up when ctx is done (Ctrl-C while the other ranks have
// not arrived): it returns at once with an error wrapping ctx.Err(), and the rendezvous
// left waiting in libtorch is closed when it ends (at its timeout, or when the process
// exits first).
func InitContext(ctx context.Context, cfg Config) (*Group, error) {
	type joined struct {
		g   *Group
		err error
	}
	ch := make(chan joined, 1)
	go func() {
		g, err := Init(cfg)
		ch <- joined{g, err}
	}()
	select {
	case j := <-ch:
		return j.g, j.err
	case <-ctx.Done():
		go func() {
			if j := <-ch; j.g != nil {
				j.g.Close()
			}
		}()
		return nil, fmt.Errorf("dist: rank %d of %d: stopped while waiting for the other ranks at the rendezvous %s: %w",
			cfg.Rank, cfg.World, net.JoinHostPort(cfg.MasterAddr, strconv.Itoa(cfg.MasterPort)), ctx.Err())
	}
}

// Rank is this process's rank, World the number of ranks.
func (g *Group) Rank() int  { return g.cfg.Rank }
func (g *Group) World() int { return g.cfg.World }

// Timeout is the group's collective timeout.
func (g *Group) Timeout() time.Duration { return g.cfg.Timeout }

// beat bumps this rank's heartbeat counter until Close.
func (g *Group) beat() {
	defer close(g.done)
	key := C.CString(hbKey(g.cfg.Rank))
	defer C.free(unsafe.Pointer(key))
	tick := time.NewTicker(heartbeat)
	defer tick.Stop()
	for {
		var out C.int64_t
		var cerr *C.char
		if C.ssd_store_add(g.hb, key, 1, &out, &cerr) != 0 {
			takeErr(cerr)
			return // the store is gone: diagnosis reports it
		}
		select {
		case <-g.stop:
			return
		case <-tick.C:
		}
	}
}

func hbKey(rank int) string { return "hb/" + strconv.Itoa(rank) }

// Close leaves the group. It must not run while a collective is in flight.
func (g *Group) Close() {
	g.once.Do(func() {
		close(g.stop)
		select {
		case <-g.done:
			C.ssd_store_free(g.hb)
		case <-time.After(2 * heartbeat):
			// the heartbeat is stuck in a store call on a lost host: leave its connection
		}
		C.ssd_dist_free(g.pg)
		C.ssd_store_free(g.store)
	})
}

// AllReduce reduces each tensor over the ranks in place (every rank gets the result).
func (g *Group) AllReduce(op Op, tensors ...*ts.Tensor) error {
	if len(tensors) == 0 {
		return nil
	}
	ptrs := handles(tensors)
	var cerr *C.char
	if C.ssd_dist_allreduce(g.pg, &ptrs[0], C.int(len(ptrs)), C.int(op), &cerr) != 0 {
		return g.failed("allreduce", takeErr(cerr))
	}
	return nil
}

// Broadcast copies root's tensors into every other rank's, in place.
func (g *Group) Broadcast(root int, tensors ...*ts.Tensor) error {
	if len(tensors) == 0 {
		return nil
	}
	if root < 0 || root >= g.cfg.World {
		return fmt.Errorf("dist: broadcast from rank %d of %d", root, g.cfg.World)
	}
	ptrs := handles(tensors)
	var cerr *C.char
	if C.ssd_dist_broadcast(g.pg, &ptrs[0], C.int(len(ptrs)), C.int(root), &cerr) != 0 {
		return g.failed("broadcast", takeErr(cerr))
	}
	return nil
}

// AllGather returns every rank's t (the same shape and dtype everywhere), indexed by
// rank, as new tensors the caller owns.
func (g *Group) AllGather(t *ts.Tensor) ([]*ts.Tensor, error) {
	outs := make([]*ts.Tensor, g.cfg.World)
	for i := range outs {
		o, err := t.ZerosLike(false)
		if err != nil {
			dropAll(outs[:i])
			return nil, err
		}
		outs[i] = o
	}
	ptrs := handles(outs)
	var cerr *C.char
	if C.ssd_dist_allgather(g.pg, t.Ctensor(), &ptrs[0], C.int(len(ptrs)), &cerr) != 0 {
		dropAll(outs)
		return nil, g.failed("allgather", takeErr(cerr))
	}
	return outs, nil
}

// AllGatherBytes returns every rank's b, indexed by rank (lengths may differ).
func (g *Group) AllGatherBytes(b []byte) ([][]byte, error) {
	n, err := torch.FromSlices([]int64{1}, []int64{int64(len(b))})
	if err != nil {
		return nil, err
	}
	defer n.MustDrop()
	lens, err := g.AllGather(n)
	if err != nil {
		return nil, err
	}
	sizes := make([]int, len(lens))
	longest := 1
	for i, l := range lens {
		v := make([]int64, 1)
		if err == nil {
			err = torch.CopyTo(l, v)
		}
		l.MustDrop()
		sizes[i] = int(v[0])
		longest = max(longest, sizes[i])
	}
	if err != nil {
		return nil, err
	}
	buf := make([]byte, longest)
	copy(buf, b)
	t, err := torch.FromSlices([]int64{int64(longest)}, buf)
	if err != nil {
		return nil, err
	}
	defer t.MustDrop()
	parts, err := g.AllGather(t)
	if err != nil {
		return nil, err
	}
	out := make([][]byte, len(parts))
	for i, p := range parts {
		all := make([]byte, longest)
		if err == nil {
			err = torch.CopyTo(p, all)
		}
		p.MustDrop()
		out[i] = all[:sizes[i]]
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// BroadcastBytes returns root's b on every rank (the other ranks' b is ignored).
func (g *Group) BroadcastBytes(root int, b []byte) ([]byte, error) {
	n, err := torch.FromSlices([]int64{1}, []int64{int64(len(b))})
	if err != nil {
		return nil, err
	}
	defer n.MustDrop()
	if err := g.Broadcast(root, n); err != nil {
		return nil, err
	}
	size := make([]int64, 1)
	if err := torch.CopyTo(n, size); err != nil {
		return nil, err
	}
	if size[0] == 0 {
		return []byte{}, nil
	}
	buf := make([]byte, size[0])
	if g.cfg.Rank == root {
		copy(buf, b)
	}
	t, err := torch.FromSlices([]int64{size[0]}, buf)
	if err != nil {
		return nil, err
	}
	defer t.MustDrop()
	if err := g.Broadcast(root, t); err != nil {
		return nil, err
	}
	if err := torch.CopyTo(t, buf); err != nil {
		return nil, err
	}
	return buf, nil
}

// Barrier returns when every rank has called it.
func (g *Group) Barrier() error {
	var cerr *C.char
	if C.ssd_dist_barrier(g.pg, &cerr) != 0 {
		return g.failed("barrier", takeErr(cerr))
	}
	return nil
}

// failed wraps a collective's error with the ranks that are gone. This rank first marks
// itself in the store as one that saw the failure (it may exit soon after, and must not be
// taken for the culprit by a slower rank); then it reads every rank's heartbeat counter,
// waits a few beats and reads them again: a rank whose counter stood still and that did
// not mark itself is gone.
func (g *Group) failed(op string, err error) error {
	if !g.mark(failKey(g.cfg.Rank)) {
		return &PeerError{Op: op, Host: g.cfg.Rank != 0, Err: err}
	}
	first, ok := g.beats()
	if !ok {
		return &PeerError{Op: op, Host: g.cfg.Rank != 0, Err: err}
	}
	time.Sleep(4 * heartbeat)
	second, ok := g.beats()
	if !ok {
		return &PeerError{Op: op, Host: g.cfg.Rank != 0, Err: err}
	}
	var gone []int
	for r := range g.cfg.World {
		if r != g.cfg.Rank && first[r] == second[r] && g.count(failKey(r)) == 0 {
			gone = append(gone, r)
		}
	}
	return &PeerError{Op: op, Ranks: gone, Err: err}
}

func failKey(rank int) string { return "failed/" + strconv.Itoa(rank) }

// mark adds 1 to key's counter; false when the store is unreachable.
func (g *Group) mark(key string) bool {
	k := C.CString(key)
	defer C.free(unsafe.Pointer(k))
	var v C.int64_t
	var cerr *C.char
	if C.ssd_store_add(g.store, k, 1, &v, &cerr) != 0 {
		takeErr(cerr)
		return false
	}
	return true
}

// count reads key's counter (-1 when the store is unreachable).
func (g *Group) count(key string) int64 {
	k := C.CString(key)
	defer C.free(unsafe.Pointer(k))
	var v C.int64_t
	var cerr *C.char
	if C.ssd_store_add(g.store, k, 0, &v, &cerr) != 0 {
		takeErr(cerr)
		return -1
	}
	return int64(v)
}

// beats reads every rank's heartbeat counter; ok is false when the store is unreachable.
func (g *Group) beats() ([]int64, bool) {
	out := make([]int64, g.cfg.World)
	for r := range out {
		if out[r] = g.count(hbKey(r)); out[r] < 0 {
			return nil, false
		}
	}
	return out, true
}

func handles(tensors []*ts.Tensor) []unsafe.Pointer {
	out := make([]unsafe.Pointer, len(tensors))
	for i, t := range tensors {
		out[i] = t.Ctensor()
	}
	return out
}

func dropAll(tensors []*ts.Tensor) {
	for _, t := range tensors {
		if t != nil {
			t.MustDrop()
		}
	}
}

func takeErr(c *C.char) error {
	if c == nil {
		return errors.New("unknown error")
	}
	defer C.free(unsafe.Pointer(c))
	return errors.New(strings.TrimSpace(C.GoString(c)))
}

func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

// isLoopback reports whether host is this machine's loopback (localhost, 127.0.0.0/8, ::1).
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
