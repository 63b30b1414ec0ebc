package cli

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"testing"
)

// TestMain lets the test binary stand in for `runner` when a command starts child
// processes as os.Executable(): the ranks of a data-parallel job (--nproc; the supervisor
// marks them with supervisedEnv) and the trials of a parallel sweep (the sweep tests set
// SSDRUNNER_TEST_CHILD). The child then runs the command line as runner/cmd/runner's main
// does, signals included.
func TestMain(m *testing.M) {
	if os.Getenv(supervisedEnv) != "" || os.Getenv("SSDRUNNER_TEST_CHILD") == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		go func() {
			<-ctx.Done()
			stop()
		}()
		os.Exit(Run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Environ()))
	}
	os.Exit(m.Run())
}
