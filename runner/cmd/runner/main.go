// Command runner trains and evaluates SSD object detectors from HCL experiment files.
// Run `runner --help` for the commands.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	// Before gotch's init, which exits when it cannot create its cache folder.
	"github.com/ssdrunner/ssdrunner/internal/cachedir"
	"github.com/ssdrunner/ssdrunner/runner/cli"
)

func main() {
	if n := cachedir.Notice(); n != "" {
		fmt.Fprintln(os.Stderr, "runner: warning:", n)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// The first Ctrl-C (or SIGTERM) cancels ctx: commands stop at the next safe point
		// (`runner apply` after the step in progress, with a checkpoint). Stopping the
		// notification restores the default action, so a second Ctrl-C exits at once.
		<-ctx.Done()
		stop()
	}()
	code := cli.Run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Environ())
	stop()
	os.Exit(code)
}
