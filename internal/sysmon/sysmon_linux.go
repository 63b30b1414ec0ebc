package sysmon

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// idle finds sysmon and sets its policy. sysmon is the one thread of a Go process that
// sleeps in nanosleep(2) (runtime.usleep; every other runtime thread parks on a futex, and
// libtorch's and OpenBLAS's pools wait on futexes or spin in sched_yield), as long as some
// goroutine runs: with every processor idle it parks on a futex too. So the caller's
// goroutine spins while it reads each thread's current system call from
// /proc/self/task/TID/syscall, and takes a thread only when it is the single one seen in
// nanosleep in two readings in a row.
func idle() (Result, error) {
	tid, reason := find(50 * time.Millisecond)
	if tid == 0 {
		return Result{Reason: reason}, nil
	}
	attr := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_IDLE}
	if err := unix.SchedSetAttr(tid, &attr, 0); err != nil {
		return Result{TID: tid}, fmt.Errorf("sysmon: setting SCHED_IDLE on thread %d: %w", tid, err)
	}
	return Result{TID: tid, Changed: true}, nil
}

// find returns the id of the one thread seen in nanosleep in two successive readings, or 0
// and why not within the time limit.
func find(limit time.Duration) (int, string) {
	nanosleep := strconv.Itoa(unix.SYS_NANOSLEEP)
	deadline := time.Now().Add(limit)
	last, reason := 0, "no thread in nanosleep"
	for time.Now().Before(deadline) {
		ents, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return 0, "reading /proc/self/task: " + err.Error()
		}
		found, n := 0, 0
		for _, e := range ents {
			b, err := os.ReadFile("/proc/self/task/" + e.Name() + "/syscall")
			if err != nil {
				continue // the thread ended, or /proc hides it
			}
			if nr, _, _ := strings.Cut(string(b), " "); nr == nanosleep {
				if id, err := strconv.Atoi(e.Name()); err == nil {
					found, n = id, n+1
				}
			}
		}
		switch {
		case n == 1 && found == last:
			return found, ""
		case n == 1:
			last = found
		case n > 1:
			last, reason = 0, fmt.Sprintf("%d threads in nanosleep", n)
		default:
			last = 0
		}
		spin(200 * time.Microsecond) // keep a processor busy: sysmon stays in its short sleeps
	}
	return 0, reason
}

// spin busy-waits for d without giving up the processor.
func spin(d time.Duration) {
	for end := time.Now().Add(d); time.Now().Before(end); {
	}
}
