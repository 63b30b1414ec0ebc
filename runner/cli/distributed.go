package cli

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ssdrunner/ssdrunner/internal/dist"
)

// Data-parallel `runner apply`: a rank launched by torchrun-style environment variables,
// or a supervisor (--nproc) that starts and watches the ranks of this machine.

// distFlags are apply's data-parallel flags.
type distFlags struct {
	nproc, nnodes, nodeRank int
	master                  string
	timeout                 time.Duration
	backend                 string
}

func (d *distFlags) register(fs *flag.FlagSet) {
	fs.IntVar(&d.nproc, "nproc", 1, "data-parallel: worker processes to start on this machine (each gets its share of training.threads)")
	fs.IntVar(&d.nnodes, "nnodes", 1, "data-parallel: machines in the job (each runs runner apply --nproc N with its --node-rank)")
	fs.IntVar(&d.nodeRank, "node-rank", 0, "data-parallel: this machine's index in [0, nnodes)")
	fs.StringVar(&d.master, "master", "", "data-parallel: ADDR:PORT of the rendezvous, served by rank 0's machine (default with one machine: a free loopback port)")
	fs.DurationVar(&d.timeout, "dist-timeout", dist.DefaultTimeout, "data-parallel: how long a rank waits for the others (rendezvous, every collective) before it stops with an error")
	fs.StringVar(&d.backend, "dist-backend", "gloo", "data-parallel: the process group backend (gloo; nccl needs a CUDA build of libtorch)")
}

// supervised marks the environment of the ranks a supervisor starts.
const supervisedEnv = "SSDRUNNER_SUPERVISED" // not RUNNER_*: those are experiment overrides

// rankEnv is this process's place in a job, from torchrun's variables.
type rankEnv struct {
	rank, world, localRank, localWorld int
	addr                               string
	port                               int
}

// rankFromEnv reads WORLD_SIZE, RANK, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR and
// MASTER_PORT; ok is false when WORLD_SIZE is unset (not launched as a rank).
func rankFromEnv(env []string) (r rankEnv, ok bool, err error) {
	ws := envOr(env, "WORLD_SIZE", "")
	if ws == "" {
		return r, false, nil
	}
	num := func(key, def string) int {
		v := envOr(env, key, def)
		n, e := strconv.Atoi(v)
		if e != nil && err == nil {
			err = fmt.Errorf("%s=%q is not a whole number", key, v)
		}
		return n
	}
	r.world = num("WORLD_SIZE", "")
	r.rank = num("RANK", "")
	r.localRank = num("LOCAL_RANK", strconv.Itoa(r.rank))
	r.localWorld = num("LOCAL_WORLD_SIZE", "0") // 0: unknown (Slurm's srun does not say)
	r.addr = envOr(env, "MASTER_ADDR", "")
	if r.world > 1 {
		r.port = num("MASTER_PORT", "")
	}
	if err != nil {
		return r, true, err
	}
	if r.localWorld < 0 || r.localRank < 0 || (r.localWorld > 0 && r.localRank >= r.localWorld) {
		return r, true, fmt.Errorf("LOCAL_RANK=%d, LOCAL_WORLD_SIZE=%d: want 0 <= LOCAL_RANK < LOCAL_WORLD_SIZE", r.localRank, r.localWorld)
	}
	return r, true, nil
}

// threadShare is one rank's share of total intra-op threads (0: every core, which under a
// scheduler's CPU binding are the rank's own) among the localWorld ranks of its machine
// (0: unknown, the whole).
func threadShare(total, localWorld int) int {
	if total <= 0 {
		total = runtime.NumCPU()
	}
	return max(1, total/max(localWorld, 1))
}

// masterAddr splits --master ADDR:PORT.
func masterAddr(s string) (string, int, error) {
	host, p, err := net.SplitHostPort(s)
	if err != nil {
		return "", 0, fmt.Errorf("--master %q: want ADDR:PORT (%v)", s, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 1 || port > 65535 {
		return "", 0, fmt.Errorf("--master %q: the port must be a number in [1, 65535]", s)
	}
	return host, port, nil
}

// checkLaunch validates the data-parallel flags of a process that is not a rank.
func (d *distFlags) check() error {
	switch {
	case d.nproc < 1:
		return fmt.Errorf("--nproc %d: want at least 1", d.nproc)
	case d.nnodes < 1:
		return fmt.Errorf("--nnodes %d: want at least 1", d.nnodes)
	case d.nodeRank < 0 || d.nodeRank >= d.nnodes:
		return fmt.Errorf("--node-rank %d: want a number in [0, %d) (--nnodes)", d.nodeRank, d.nnodes)
	case d.nnodes > 1 && d.master == "":
		return errors.New("--nnodes > 1 needs --master ADDR:PORT, an address of the machine with --node-rank 0 that every machine reaches")
	case d.timeout <= 0:
		return fmt.Errorf("--dist-timeout %s: want a positive duration", d.timeout)
	}
	if d.master != "" {
		if _, _, err := masterAddr(d.master); err != nil {
			return err
		}
	}
	return nil
}

// supervise starts this machine's --nproc ranks (the same command line, as ranks with
// torchrun's environment variables), forwards Ctrl-C and SIGTERM to them, and waits. When
// a rank fails, the others stop on their own within --dist-timeout (their collectives
// fail, naming it); whatever is left after that and a grace period is killed. It returns
// the exit code: 0 when every rank finished, 130 when they stopped on request, else the
// first failed rank's.
func (a *app) supervise(d *distFlags) int {
	addr, port := "127.0.0.1", 0
	if d.master != "" {
		addr, port, _ = masterAddr(d.master)
	} else {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintf(a.stderr, "runner apply: no free port for the rendezvous: %v\n", err)
			return exitError
		}
		port = l.Addr().(*net.TCPAddr).Port
		l.Close()
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(a.stderr, "runner apply: %v\n", err)
		return exitError
	}
	world := d.nnodes * d.nproc
	a.log.Info().Int("ranks", d.nproc).Int("world", world).Int("node_rank", d.nodeRank).
		Str("master", net.JoinHostPort(addr, strconv.Itoa(port))).Msg("starting the data-parallel ranks")

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)

	type exit struct {
		rank int
		err  error
	}
	exits := make(chan exit, d.nproc)
	cmds := make([]*exec.Cmd, d.nproc)
	var outs sync.WaitGroup
	for i := range d.nproc {
		rank := d.nodeRank*d.nproc + i
		cmd := exec.Command(exe, a.args...)
		cmd.Env = append(withoutKeys(a.env, "WORLD_SIZE", "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"),
			"WORLD_SIZE="+strconv.Itoa(world), "RANK="+strconv.Itoa(rank), "LOCAL_RANK="+strconv.Itoa(i),
			"LOCAL_WORLD_SIZE="+strconv.Itoa(d.nproc), "MASTER_ADDR="+addr, "MASTER_PORT="+strconv.Itoa(port), supervisedEnv+"=1")
		// own process group: a terminal's Ctrl-C reaches the supervisor only, which
		// forwards it once; the ranks die with it (SIGTERM) if it is killed
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
		if rank == 0 {
			cmd.Stdout = a.stdout
		}
		pr, pw := io.Pipe()
		cmd.Stderr = pw
		outs.Add(1)
		go func() {
			defer outs.Done()
			prefixLines(a.stderr, pr, fmt.Sprintf("[rank %d] ", rank))
		}()
		if err := cmd.Start(); err != nil {
			pw.Close()
			fmt.Fprintf(a.stderr, "runner apply: starting rank %d: %v\n", rank, err)
			for _, c := range cmds[:i] {
				c.Process.Kill()
			}
			return exitError
		}
		cmds[i] = cmd
		go func() {
			err := cmd.Wait()
			pw.Close()
			exits <- exit{rank, err}
		}()
	}

	code, running := -1, d.nproc
	var deadline <-chan time.Time
	interrupted := false
	for running > 0 {
		select {
		case s := <-sigs:
			interrupted = true
			for _, c := range cmds {
				c.Process.Signal(s)
			}
		case e := <-exits:
			running--
			c := exitCode(e.err)
			if c == 0 {
				continue
			}
			if code < 0 {
				code = c
				if !interrupted || c != 130 {
					fmt.Fprintf(a.stderr, "runner apply: rank %d %s\n", e.rank, describeExit(e.err))
				}
				if running > 0 && !interrupted {
					grace := d.timeout + 30*time.Second
					a.log.Warn().Int("rank", e.rank).Str("within", grace.String()).Msg("a rank failed: the others stop when they notice it")
					deadline = time.After(grace)
				}
			}
		case <-deadline:
			for i, c := range cmds {
				if c.ProcessState == nil {
					fmt.Fprintf(a.stderr, "runner apply: rank %d did not stop after the failure: killing it\n", d.nodeRank*d.nproc+i)
					c.Process.Kill()
				}
			}
			deadline = nil
		}
	}
	outs.Wait()
	switch {
	case code < 0:
		return exitOK
	case interrupted:
		return 130
	}
	return code
}

// exitCode is a finished command's exit status (128+signal for a signal).
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	}
	return exitError
}

func describeExit(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return "was killed by signal " + ws.Signal().String()
		}
		return fmt.Sprintf("exited with status %d", ee.ExitCode())
	}
	return fmt.Sprintf("failed: %v", err)
}

// prefixLines copies r to w line by line, each line prefixed.
func prefixLines(w io.Writer, r io.Reader, prefix string) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fmt.Fprintf(w, "%s%s\n", prefix, sc.Text())
	}
	io.Copy(io.Discard, r)
}

func withoutKeys(env []string, keys ...string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		drop := false
		for _, x := range keys {
			drop = drop || k == x
		}
		if !drop {
			out = append(out, kv)
		}
	}
	return out
}

// joinGroup joins the job this process is a rank of.
func (a *app) joinGroup(r rankEnv, d *distFlags) (*dist.Group, error) {
	a.log.Info().Int("rank", r.rank).Int("world", r.world).Str("master", net.JoinHostPort(r.addr, strconv.Itoa(r.port))).
		Msg("waiting for the other ranks at the rendezvous")
	return dist.InitContext(a.ctx, dist.Config{Rank: r.rank, World: r.world, MasterAddr: r.addr, MasterPort: r.port, Timeout: d.timeout,
		Backend: d.backend, Interface: envOr(a.env, "GLOO_SOCKET_IFNAME", "")})
}
