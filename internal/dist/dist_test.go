package dist

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/internal/torch"
)

// The multi-process tests re-execute this test binary: with SSD_DIST_WORKER set, TestMain
// runs that worker as one rank (RANK, WORLD_SIZE, MASTER_PORT from the environment) and
// exits with its status instead of running the tests.
func TestMain(m *testing.M) {
	if w := os.Getenv("SSD_DIST_WORKER"); w != "" {
		os.Exit(runWorker(w))
	}
	os.Exit(m.Run())
}

func runWorker(name string) int {
	runtime.LockOSThread()
	rank, _ := strconv.Atoi(os.Getenv("RANK"))
	world, _ := strconv.Atoi(os.Getenv("WORLD_SIZE"))
	port, _ := strconv.Atoi(os.Getenv("MASTER_PORT"))
	timeout, _ := time.ParseDuration(os.Getenv("SSD_DIST_TIMEOUT"))
	g, err := Init(Config{Rank: rank, World: world, MasterAddr: "127.0.0.1", MasterPort: port, Timeout: timeout})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	work := workers[name]
	if err := work(g); err != nil {
		fmt.Fprintf(os.Stderr, "rank %d: %v\n", rank, err)
		return 1
	}
	g.Close()
	fmt.Printf("rank %d ok\n", rank)
	return 0
}

var workers = map[string]func(*Group) error{
	"collectives": collectives,
	"lost-peer":   lostPeer,
}

// collectives checks every collective's result on every rank.
func collectives(g *Group) error {
	r, w := g.Rank(), g.World()
	// allreduce: rank r holds [r+1, 10(r+1)] and a second tensor; every rank gets the sums
	a, err := torch.FromSlices([]int64{2}, []float32{float32(r + 1), float32(10 * (r + 1))})
	if err != nil {
		return err
	}
	defer a.MustDrop()
	b, err := torch.FromSlices([]int64{1}, []int64{int64(r)})
	if err != nil {
		return err
	}
	defer b.MustDrop()
	if err := g.AllReduce(Sum, a, b); err != nil {
		return err
	}
	n := w * (w + 1) / 2
	if err := expect(a, []float32{float32(n), float32(10 * n)}); err != nil {
		return fmt.Errorf("allreduce sum: %w", err)
	}
	if err := expect(b, []int64{int64(w * (w - 1) / 2)}); err != nil {
		return fmt.Errorf("allreduce sum (int64): %w", err)
	}
	m, err := torch.FromSlices([]int64{1}, []float64{float64(r)})
	if err != nil {
		return err
	}
	defer m.MustDrop()
	if err := g.AllReduce(Max, m); err != nil {
		return err
	}
	if err := expect(m, []float64{float64(w - 1)}); err != nil {
		return fmt.Errorf("allreduce max: %w", err)
	}
	// broadcast from the last rank
	c, err := torch.FromSlices([]int64{3}, []float32{float32(r), float32(r), float32(r)})
	if err != nil {
		return err
	}
	defer c.MustDrop()
	if err := g.Broadcast(w-1, c); err != nil {
		return err
	}
	if err := expect(c, []float32{float32(w - 1), float32(w - 1), float32(w - 1)}); err != nil {
		return fmt.Errorf("broadcast: %w", err)
	}
	// allgather of a tensor and of byte strings of different lengths (one empty)
	d, err := torch.FromSlices([]int64{2}, []int32{int32(r), int32(100 + r)})
	if err != nil {
		return err
	}
	defer d.MustDrop()
	parts, err := g.AllGather(d)
	if err != nil {
		return err
	}
	for i, p := range parts {
		err := expect(p, []int32{int32(i), int32(100 + i)})
		p.MustDrop()
		if err != nil {
			return fmt.Errorf("allgather from rank %d: %w", i, err)
		}
	}
	msg := bytes.Repeat([]byte{byte('a' + r)}, 3*r)
	got, err := g.AllGatherBytes(msg)
	if err != nil {
		return err
	}
	for i, m := range got {
		if want := bytes.Repeat([]byte{byte('a' + i)}, 3*i); !bytes.Equal(m, want) {
			return fmt.Errorf("allgather bytes from rank %d: got %q, want %q", i, m, want)
		}
	}
	big := []byte{}
	if r == 1 {
		big = bytes.Repeat([]byte("checkpoint"), 100000)
	}
	got1, err := g.BroadcastBytes(1, big)
	if err != nil {
		return err
	}
	if want := bytes.Repeat([]byte("checkpoint"), 100000); !bytes.Equal(got1, want) {
		return fmt.Errorf("broadcast bytes: got %d bytes, want %d", len(got1), len(want))
	}
	return g.Barrier()
}

// lostPeer: the last rank exits (as a killed process would) after a barrier; the others
// must get an error naming it from their next collective.
func lostPeer(g *Group) error {
	if err := g.Barrier(); err != nil {
		return err
	}
	if g.Rank() == g.World()-1 {
		os.Exit(3)
	}
	x, err := torch.FromSlices([]int64{1}, []float32{1})
	if err != nil {
		return err
	}
	defer x.MustDrop()
	start := time.Now()
	err = g.AllReduce(Sum, x)
	var pe *PeerError
	if !errors.As(err, &pe) {
		return fmt.Errorf("allreduce with a lost peer: got %v, want a *PeerError", err)
	}
	fmt.Printf("lost peer after %s: %v\n", time.Since(start).Round(time.Millisecond), err)
	if len(pe.Ranks) != 1 || pe.Ranks[0] != g.World()-1 {
		return fmt.Errorf("the error names ranks %v, want [%d]: %v", pe.Ranks, g.World()-1, err)
	}
	return nil
}

func expect[T torch.Element](t *ts.Tensor, want []T) error {
	if int(t.Numel()) != len(want) {
		return fmt.Errorf("%d elements, want %d", t.Numel(), len(want))
	}
	got := make([]T, len(want))
	if err := torch.CopyTo(t, got); err != nil {
		return err
	}
	// small whole numbers: exact in every dtype and any summation order
	if !slices.Equal(got, want) {
		return fmt.Errorf("got %v, want %v", got, want)
	}
	return nil
}

// freePort returns a TCP port that was free on the loopback a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

type result struct {
	rank   int
	code   int
	stdout string
	stderr string
}

// spawn runs worker as world ranks of one job and returns each rank's exit status and
// output, killing them all after limit.
func spawn(t *testing.T, worker string, world int, timeout, limit time.Duration) []result {
	t.Helper()
	port := freePort(t)
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	out := make([]result, world)
	var wg sync.WaitGroup
	for r := range world {
		cmd := exec.CommandContext(ctx, os.Args[0])
		cmd.Env = append(os.Environ(), "SSD_DIST_WORKER="+worker, "RANK="+strconv.Itoa(r), "WORLD_SIZE="+strconv.Itoa(world),
			"MASTER_PORT="+strconv.Itoa(port), "SSD_DIST_TIMEOUT="+timeout.String(), "OMP_NUM_THREADS=1")
		var so, se bytes.Buffer
		cmd.Stdout, cmd.Stderr = &so, &se
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := cmd.Wait()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				code = -1
			}
			out[r] = result{rank: r, code: code, stdout: so.String(), stderr: se.String()}
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		t.Fatalf("the ranks did not finish within %s: %+v", limit, out)
	}
	return out
}

func TestCollectives(t *testing.T) {
	for _, world := range []int{2, 3} {
		t.Run(strconv.Itoa(world), func(t *testing.T) {
			for _, r := range spawn(t, "collectives", world, 30*time.Second, 60*time.Second) {
				if r.code != 0 || !strings.Contains(r.stdout, "ok") {
					t.Errorf("rank %d: exit %d\nstdout: %s\nstderr: %s", r.rank, r.code, r.stdout, r.stderr)
				}
			}
		})
	}
}

func TestLostPeerIsNamed(t *testing.T) {
	// a killed peer closes its sockets: the survivors' collective fails at once, far inside
	// the 20 s timeout, and the heartbeat names the rank
	start := time.Now()
	res := spawn(t, "lost-peer", 3, 20*time.Second, 60*time.Second)
	for _, r := range res[:2] {
		if r.code != 0 {
			t.Errorf("rank %d: exit %d\nstdout: %s\nstderr: %s", r.rank, r.code, r.stdout, r.stderr)
		}
		t.Logf("rank %d: %s", r.rank, strings.TrimSpace(r.stdout))
	}
	if res[2].code != 3 {
		t.Errorf("rank 2 exited with %d, want 3", res[2].code)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("the survivors took %s, more than the collective timeout", d)
	}
}

func TestRendezvousTimesOut(t *testing.T) {
	// rank 0 of 2 alone: Init gives up after the timeout with an error, not a hang
	start := time.Now()
	_, err := Init(Config{Rank: 0, World: 2, MasterAddr: "127.0.0.1", MasterPort: freePort(t), Timeout: 2 * time.Second})
	if err == nil {
		t.Fatal("Init of a rank alone returned no error")
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("Init took %s with a 2 s timeout", d)
	}
	t.Log(err)
}

func TestRendezvousInterrupted(t *testing.T) {
	// rank 0 of 2 alone with a long timeout: cancelling the context stops the wait at once
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := InitContext(ctx, Config{Rank: 0, World: 2, MasterAddr: "127.0.0.1", MasterPort: freePort(t), Timeout: time.Minute})
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("InitContext returned before the cancel: %v", err)
	case <-time.After(300 * time.Millisecond): // the rendezvous is under way (it cannot finish alone)
	}
	cancel()
	start := time.Now()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "waiting for the other ranks") {
			t.Errorf("got %v, want an error wrapping context.Canceled that says what it was waiting for", err)
		}
		t.Logf("returned %s after the cancel: %v", time.Since(start).Round(time.Millisecond), err)
	case <-time.After(5 * time.Second):
		t.Fatal("InitContext did not return within 5 s of the cancel")
	}
}

func TestConfigValidate(t *testing.T) {
	ok := Config{Rank: 1, World: 2, MasterAddr: "10.0.0.1", MasterPort: 29500}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		mut  func(*Config)
		want string
	}{
		{func(c *Config) { c.World = 0 }, "world size"},
		{func(c *Config) { c.Rank = 2 }, "rank must be in [0, 2)"},
		{func(c *Config) { c.MasterAddr = "" }, "master address"},
		{func(c *Config) { c.MasterPort = 70000 }, "master port"},
		{func(c *Config) { c.Backend = "nccl" }, "gloo only"},
	} {
		cfg := ok
		c.mut(&cfg)
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: got %v, want an error containing %q", cfg, err, c.want)
		}
	}
}
