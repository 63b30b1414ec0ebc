package sysmon

import (
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestIdleFindsSysmon checks that the thread Idle changes is sysmon: in a pure-Go test
// binary the runtime starts sysmon before any other thread (runtime.main, before the
// garbage collector's workers and before any init function), so it is the oldest thread
// after the main one.
func TestIdleFindsSysmon(t *testing.T) {
	// The search reads each thread's current system call, which a kernel built without
	// CONFIG_HAVE_ARCH_TRACEHOOK (or a sandbox's /proc) does not show.
	if _, err := os.ReadFile("/proc/self/task/" + strconv.Itoa(os.Getpid()) + "/syscall"); err != nil {
		t.Skipf("this system does not show threads' system calls: %v", err)
	}
	res, err := Idle()
	if err != nil {
		t.Fatal(err)
	}
	if !res.Changed {
		t.Fatalf("sysmon not identified: %s", res.Reason)
	}
	if want := oldestThread(t); res.TID != want {
		t.Errorf("changed thread %d, want sysmon, the oldest thread after the main one: %d", res.TID, want)
	}
	attr, err := unix.SchedGetAttr(res.TID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if attr.Policy != unix.SCHED_IDLE {
		t.Errorf("policy of thread %d: %d, want SCHED_IDLE (%d)", res.TID, attr.Policy, unix.SCHED_IDLE)
	}
	// Later calls give the first call's result without looking again.
	if again, err := Idle(); err != nil || again != res {
		t.Errorf("second call: %+v, %v; want %+v", again, err, res)
	}
	// The process goes on: goroutines still get scheduled and sleep.
	done := make(chan int)
	for i := 0; i < 8; i++ {
		go func(i int) { done <- i }(i)
	}
	for i := 0; i < 8; i++ {
		<-done
	}
}

// oldestThread returns the id of the thread started first after the main thread (field 22
// of /proc/self/task/TID/stat, ties broken by the lower id).
func oldestThread(t *testing.T) int {
	t.Helper()
	type task struct{ id, start int }
	var tasks []task
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		id, _ := strconv.Atoi(e.Name())
		if id == os.Getpid() {
			continue
		}
		b, err := os.ReadFile("/proc/self/task/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// The command name (field 2) may hold spaces: count fields after its ')'.
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		start, err := strconv.Atoi(f[19]) // field 22 = the 20th after the name
		if err != nil {
			t.Fatal(err)
		}
		tasks = append(tasks, task{id, start})
	}
	sort.Slice(tasks, func(i, j int) bool {
		if tasks[i].start != tasks[j].start {
			return tasks[i].start < tasks[j].start
		}
		return tasks[i].id < tasks[j].id
	})
	return tasks[0].id
}
