package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"time"
)

// Paired rounds (the training cases, -paired). A round of the other cases times a block of
// our repetitions, then a block of the reference's in a fresh process: seconds apart, and
// on a virtual machine whose speed moves from one second to the next (a forward pass of
// 17 ms one second and 28 the next), a block can land in a slow stretch the other missed.
// A paired round keeps both sides warm at once — our step built and run once, reference.py
// serving its case (its "serve" mode: one timed repetition per request) — and times them in
// turn, step by step, the side that goes first alternating from one pair to the next, so
// that both see the machine of the same moment. Each round still starts a fresh reference
// process and builds our step anew.

// pairGap is the pause after each timed step of a paired round: libgomp's workers spin for
// a few milliseconds after their last parallel region before they sleep, and in that
// time they would take a core from the other side's step.
const pairGap = 20 * time.Millisecond

// minPairs is the fewest pairs in a paired round: three give the round's medians a middle.
const minPairs = 3

// refServer is reference.py serving one case's repetitions.
type refServer struct {
	cmd    *exec.Cmd
	cancel context.CancelFunc
	in     io.WriteCloser
	out    *bufio.Reader
	stderr bytes.Buffer
	name   string
}

// startRefServer starts reference.py on case name in its serve mode and waits until it
// is warm (its warm-up repetition run).
func startRefServer(ref, name string, threads int, env []string) (*refServer, error) {
	cmd, cancel := referenceCmd(ref, name, threads, "serve", env)
	s := &refServer{cmd: cmd, cancel: cancel, name: name}
	s.cmd.Stderr = &s.stderr
	var err error
	if s.in, err = s.cmd.StdinPipe(); err != nil {
		cancel()
		return nil, err
	}
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		cancel()
		return nil, err
	}
	s.out = bufio.NewReader(out)
	if err := s.cmd.Start(); err != nil {
		cancel()
		return nil, err
	}
	var ready struct {
		Ready bool `json:"ready"`
	}
	if err := s.next(&ready); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// next decodes the server's next JSON line into v, skipping the lines before it that are
// not JSON (the reference's own prints).
func (s *refServer) next(v any) error {
	for {
		line, err := s.out.ReadString('\n')
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "{") {
			if jerr := json.Unmarshal([]byte(line), v); jerr != nil {
				return fmt.Errorf("reference.py %s: unexpected output: %.200s", s.name, line)
			}
			return nil
		}
		if err != nil {
			// the process ended (or its output broke) before answering: say why
			_ = s.in.Close()
			werr := s.cmd.Wait()
			if msg := strings.TrimSpace(s.stderr.String()); msg != "" {
				return fmt.Errorf("reference.py %s: %v: %s", s.name, werr, msg)
			}
			return fmt.Errorf("reference.py %s: no answer (%v, %v)", s.name, err, werr)
		}
	}
}

// step asks for one timed repetition and returns its milliseconds and usage.
func (s *refServer) step() (float64, usage, error) {
	if _, err := io.WriteString(s.in, "step\n"); err != nil {
		return 0, usage{}, fmt.Errorf("reference.py %s: %w", s.name, err)
	}
	var res refResult
	if err := s.next(&res); err != nil {
		return 0, usage{}, err
	}
	if len(res.MS) != 1 || len(res.Usage) != 1 {
		return 0, usage{}, fmt.Errorf("reference.py %s: %d timings and %d usage counts for one step", s.name, len(res.MS), len(res.Usage))
	}
	return res.MS[0], res.Usage[0], nil
}

// close ends the server (its input closed, it exits) and frees its context.
func (s *refServer) close() {
	_ = s.in.Close()
	_ = s.cmd.Wait()
	s.cancel()
}

// pairedRound runs one paired round of c: our step and the reference's, warm, pairs times
// each in turn. ours fails the case; refErr leaves ours measured.
func pairedRound(c benchCase, ref, refCase string, threads, pairs int, env []string) (ours, theirs measured, err, refErr error) {
	step, done, err := c.pair()
	if err != nil {
		return ours, theirs, err, nil
	}
	defer done()
	if err := step(); err != nil { // warm-up
		return ours, theirs, err, nil
	}
	srv, refErr := startRefServer(ref, refCase, threads, env)
	if refErr != nil {
		return ours, theirs, nil, refErr
	}
	defer srv.close()
	runOurs := func() error { return ours.timeOnce(step) }
	var refFailed error
	runRef := func() error {
		ms, u, err := srv.step()
		if err != nil {
			refFailed = err
			return err
		}
		theirs.ms, theirs.use = append(theirs.ms, ms), append(theirs.use, u)
		return nil
	}
	for i := 0; i < pairs; i++ {
		first, second := runOurs, runRef
		if i%2 == 1 {
			first, second = runRef, runOurs
		}
		for _, f := range []func() error{first, second} {
			time.Sleep(pairGap)
			if err := f(); err != nil {
				if refFailed != nil {
					return ours, theirs, nil, refFailed
				}
				return ours, theirs, err, nil
			}
		}
	}
	return ours, theirs, nil, nil
}
