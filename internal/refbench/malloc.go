package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/ssdrunner/ssdrunner/internal/torch"
)

// identicalMalloc is the malloc policy of -same-malloc, given to both processes: glibc
// malloc with one arena and transparent huge pages advised on its mappings (the
// reference's own allocator then gets what our default allocator gives libtorch, and ours
// keeps libtorch's own allocator: internal/torch changes nothing in malloc when the
// environment tunes it).
var identicalMalloc = []string{"MALLOC_ARENA_MAX=1", "GLIBC_TUNABLES=glibc.malloc.hugetlb=1"}

// childMarker marks the process that refbench -same-malloc re-executed with the
// identical policy.
const childMarker = "REFBENCH_SAME_MALLOC_CHILD"

// isMallocVar reports whether kv (NAME=VALUE) is a glibc malloc setting or RUNNER_MALLOC.
func isMallocVar(kv string) bool {
	return strings.HasPrefix(kv, "MALLOC_") || strings.HasPrefix(kv, "GLIBC_TUNABLES=") || strings.HasPrefix(kv, "RUNNER_MALLOC=")
}

// withoutMalloc returns env without its malloc settings (isMallocVar).
func withoutMalloc(env []string) []string {
	return slices.DeleteFunc(slices.Clone(env), isMallocVar)
}

// mallocEnv lists the environment's malloc settings.
func mallocEnv() string {
	var out []string
	for _, kv := range os.Environ() {
		if isMallocVar(kv) {
			out = append(out, kv)
		}
	}
	return strings.Join(out, " ")
}

// reexecWithMalloc runs this program again with the same arguments, its environment's
// malloc settings replaced by identicalMalloc and the thread variables set to threads (as
// the reference gets them: OpenBLAS sizes its thread pool from OPENBLAS_NUM_THREADS when
// the library loads, before main could set it), and returns the exit code to leave with.
// Interrupts are passed on to it.
func reexecWithMalloc(threads int) int {
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "refbench: -same-malloc: cannot find this program to run it again:", err)
		return 1
	}
	cmd := exec.Command(exe, os.Args[1:]...)
	cmd.Env = append(append(withoutMalloc(os.Environ()), identicalMalloc...), childMarker+"=1")
	cmd.Env = append(cmd.Env, threadEnv(threads)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "refbench: -same-malloc:", err)
		return 1
	}
	go func() {
		for s := range sig {
			_ = cmd.Process.Signal(s)
		}
	}()
	err = cmd.Wait()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee) && ee.ExitCode() >= 0:
		return ee.ExitCode()
	default:
		fmt.Fprintln(os.Stderr, "refbench: -same-malloc:", err)
		return 1
	}
}

// checkIdenticalMalloc checks, in the re-executed process, that its malloc settings are
// exactly identicalMalloc and that internal/torch left malloc to them.
func checkIdenticalMalloc() error {
	if got, want := mallocEnv(), strings.Join(identicalMalloc, " "); !sameSet(got, want) {
		return fmt.Errorf("-same-malloc: this process's malloc settings are %q, want %q", got, want)
	}
	if torch.MallocPolicy() != "system" || !torch.MallocTunedByEnvironment() {
		return fmt.Errorf("-same-malloc: our allocator set malloc up itself (policy %s) despite %s", torch.MallocPolicy(), mallocEnv())
	}
	return nil
}

// sameSet reports whether two space-separated lists hold the same items.
func sameSet(a, b string) bool {
	x, y := strings.Fields(a), strings.Fields(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}

// describeMalloc says what malloc policy ours and the reference run with (the reference
// inherits this process's environment, malloc settings included).
func describeMalloc() (ours, ref string) {
	env := mallocEnv()
	switch {
	case os.Getenv(childMarker) != "":
		ours = "libtorch's own CPU allocator on glibc malloc with exactly " + env +
			", set by refbench in the environment of both processes (ours re-executed; our huge-page allocator, one-arena setting and huge-page advice off)"
	case torch.MallocPolicy() == "hugepages":
		ours = "our huge-page CPU allocator for libtorch (MADV_HUGEPAGE on blocks of 2 MiB or more) on glibc malloc with one arena that keeps what it frees (mmap threshold 32 MiB, no trimming; RUNNER_MALLOC=hugepages, the default)"
	case torch.MallocTunedByEnvironment():
		ours = "libtorch's own CPU allocator on glibc malloc as this environment tunes it (" + env + "; nothing of ours)"
	default:
		arena := "one arena"
		if v := os.Getenv("MALLOC_ARENA_MAX"); v != "" {
			arena = "MALLOC_ARENA_MAX=" + v
		}
		ours = "libtorch's own CPU allocator on glibc malloc with " + arena + " (RUNNER_MALLOC=system, or transparent huge pages off)"
	}
	ref = "glibc malloc's defaults (as train_ssd.py runs)"
	if glibc := withoutRunner(env); glibc != "" {
		ref = "glibc malloc with this environment's settings, inherited: " + glibc
	}
	return ours, ref
}

// withoutRunner drops RUNNER_MALLOC from a list of malloc settings (the reference does not
// read it).
func withoutRunner(env string) string {
	return strings.Join(slices.DeleteFunc(strings.Fields(env), func(kv string) bool { return strings.HasPrefix(kv, "RUNNER_MALLOC=") }), " ")
}

// threadEnv is the thread-count environment both sides get.
func threadEnv(threads int) []string {
	return []string{fmt.Sprintf("OMP_NUM_THREADS=%d", threads), fmt.Sprintf("OPENBLAS_NUM_THREADS=%d", threads)}
}
