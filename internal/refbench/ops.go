package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/ssdrunner/ssdrunner/internal/reftest"
)

// compareOps counts the libtorch ops of one step of each selected case on our side and,
// when the reference is present, on the reference's (torch.autograd.profiler), and prints
// per case every op whose count differs, then the totals. Equal counts mean the same work
// is launched; a difference names the op that one side runs more often.
func compareOps(re *regexp.Regexp, ref string, threads int) error {
	for _, c := range cases() {
		if c.ops == nil || (re != nil && !re.MatchString(c.name)) {
			continue
		}
		if err := compareCaseOps(c, ref, threads); err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
	}
	return nil
}

func compareCaseOps(c benchCase, ref string, threads int) error {
	if c.cleanup != nil {
		defer c.cleanup()
	}
	fmt.Fprintf(os.Stderr, "refbench: counting ops of %s…\n", c.name)
	ours, err := c.ops()
	if err != nil {
		return err
	}
	var theirs map[string]int64
	if ref != "" && c.ref != "" {
		name := c.ref
		if c.refArg != nil {
			if name, err = c.refArg(); err != nil {
				return err
			}
		}
		if theirs, err = referenceOps(ref, name, threads); err != nil {
			return fmt.Errorf("reference: %w", err)
		}
	}
	printOps(c.name, ours, theirs)
	return nil
}

func referenceOps(ref, name string, threads int) (map[string]int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, reftest.Python(), filepath.Join(sourceDir(), "reference.py"), ref, name, fmt.Sprint(threads), "1")
	cmd.Env = append(os.Environ(), "REFBENCH_OPS=1", fmt.Sprintf("OMP_NUM_THREADS=%d", threads))
	res, err := runScript(cmd)
	if err != nil {
		return nil, err
	}
	return res.Ops, nil
}

func printOps(name string, ours, theirs map[string]int64) {
	fmt.Printf("%s: libtorch ops of one step\n", name)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "op\tours\treference\t")
	names := map[string]bool{}
	for k := range ours {
		names[k] = true
	}
	for k := range theirs {
		names[k] = true
	}
	sorted := make([]string, 0, len(names))
	for k := range names {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	var to, tt int64
	for _, k := range sorted {
		to += ours[k]
		tt += theirs[k]
		if theirs == nil || ours[k] != theirs[k] {
			fmt.Fprintf(tw, "%s\t%d\t%s\t\n", k, ours[k], refCount(theirs, k))
		}
	}
	fmt.Fprintf(tw, "total\t%d\t%s\t\n", to, map[bool]string{true: "-", false: fmt.Sprint(tt)}[theirs == nil])
	tw.Flush()
	fmt.Println()
}

func refCount(m map[string]int64, k string) string {
	if m == nil {
		return "-"
	}
	return fmt.Sprint(m[k])
}
