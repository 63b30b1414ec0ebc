// Package sysmon gives the Go runtime's system monitor thread (sysmon) the SCHED_IDLE
// scheduling policy, so that it runs only where a core would otherwise idle. refbench
// uses it (-sysmon idle) to test whether sysmon's wake-ups slow the training step down;
// runner does not.
//
// The question: sysmon polls every 20 µs for about a millisecond after it takes a
// processor back from a call into C that lasted over 10 ms, and after each return from
// one, then backs off. A training step at batch 16 is a string of such calls (libtorch's
// large convolutions), so sysmon wakes thousands of times a second during a step, and on
// a machine whose cores all run libtorch's OpenMP team each wake-up preempts a member of
// the team. With sysmon at SCHED_IDLE, refbench's mb1-ssd forward+backward at batch 16
// (2 threads, 2 cores) counted 160-212 involuntary context switches per step against
// 397-1,227 with the normal policy — but the step was not faster: over 6 alternating
// runs of 5 rounds each, the ratio to the reference had a median of 1.02 with SCHED_IDLE
// and 0.96 without (README, Speed). So the switches are sysmon's, and they cost nothing
// that shows.
package sysmon

import "sync"

// Result says what Idle did.
type Result struct {
	TID     int    // the sysmon thread's id; 0 when it was not found
	Changed bool   // the policy is now SCHED_IDLE
	Reason  string // why nothing changed, when nothing did
}

var (
	once    sync.Once
	onceRes Result
	onceErr error
)

// Idle gives sysmon the SCHED_IDLE policy, once per process: later calls return the first
// call's result. Nothing changes, with the reason in the Result, on systems other than
// Linux or when the thread cannot be told apart from the others with certainty; an error
// means the thread was found but its policy could not be set. Call it before starting
// libtorch's threads: it spins one goroutine for up to 50 ms while it looks.
func Idle() (Result, error) {
	once.Do(func() { onceRes, onceErr = idle() })
	return onceRes, onceErr
}
