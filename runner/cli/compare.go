package cli

import (
	"fmt"

	"github.com/ssdrunner/ssdrunner/runner/report"
)

// compare writes the comparison of several runs (runner/report.Compare).
func (a *app) compare(args []string) int {
	fs := newFlagSet(a, "compare", "[--out DIR] [--which best|latest] RUN_DIR|SWEEP_DIR…", commandSummary("compare"))
	out := fs.String("out", "compare", "folder to write compare.html, compare.md and charts/ into")
	which := fs.String("which", "best", "validation of each run in the per-class AP chart: best (highest mAP) or latest")
	title := fs.String("title", "", "title of the comparison (default: Comparison of N runs)")
	asJSON := fs.Bool("json", false, "print what was written as JSON")
	dirs, code, ok := parseArgs(fs, args)
	if !ok {
		return code
	}
	if len(dirs) == 0 {
		fmt.Fprintln(a.stderr, "runner compare: give run folders, or folders of runs (a sweep, an experiment's runs/NAME)")
		return exitUsage
	}
	if *which != "best" && *which != "latest" {
		fmt.Fprintf(a.stderr, "runner compare: --which %q: want best or latest\n", *which)
		return exitUsage
	}
	runs, err := report.ExpandRunDirs(dirs)
	if err != nil {
		fmt.Fprintf(a.stderr, "runner compare: %v\n", err)
		return exitError
	}
	c, err := report.Compare(a.ctx, runs, *out, report.CompareOptions{Which: *which, Title: *title})
	if err != nil {
		if a.interrupted("compare") {
			return exitInterrupted
		}
		fmt.Fprintf(a.stderr, "runner compare: %v\n", err)
		return exitError
	}
	for _, n := range c.Notes {
		a.log.Warn().Msg(n)
	}
	if *asJSON {
		return a.writeJSON(map[string]any{"html": c.HTML, "markdown": c.Markdown, "charts": c.Charts, "runs": runs,
			"labels": c.Labels, "differing_keys": c.Keys, "common_classes": c.Common, "notes": c.Notes})
	}
	fmt.Fprintf(a.stdout, "compared %d runs\n%s\n%s\n", len(runs), c.HTML, c.Markdown)
	return exitOK
}
