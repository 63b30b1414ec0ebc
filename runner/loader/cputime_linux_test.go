package loader

import "syscall"

// processCPU returns the CPU time this process has used (user + system, every thread), in
// nanoseconds (0 if unknown). The benchmark reports it per image beside wall time, since
// wall time on a shared machine also counts other processes.
func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// threadCPU returns the CPU time the calling OS thread has used, in nanoseconds (0 if
// unknown), for benchmarks that lock their goroutine to a thread.
func threadCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
