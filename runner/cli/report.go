package cli

import (
	"fmt"

	"github.com/ssdrunner/ssdrunner/runner/report"
)

// report writes the report of each run folder given (or of each run below a folder of runs).
func (a *app) report(args []string) int {
	fs := newFlagSet(a, "report", "RUN_DIR…", commandSummary("report"))
	asJSON := fs.Bool("json", false, "print what was written as JSON")
	dirs, code, ok := parseArgs(fs, args)
	if !ok {
		return code
	}
	if len(dirs) == 0 {
		fmt.Fprintln(a.stderr, "runner report: give a run folder (e.g. runs/quickstart/20261206-101500), or a folder of runs")
		return exitUsage
	}
	runs, err := report.ExpandRunDirs(dirs)
	if err != nil {
		fmt.Fprintf(a.stderr, "runner report: %v\n", err)
		return exitError
	}
	var results []*report.Result
	code = exitOK
	for _, dir := range runs {
		res, err := report.Write(a.ctx, dir)
		if err != nil {
			if a.interrupted("report") {
				return exitInterrupted
			}
			fmt.Fprintf(a.stderr, "runner report: %v\n", err)
			code = exitError
			continue
		}
		results = append(results, res)
		for _, n := range res.Notes {
			a.log.Warn().Str("run", dir).Msg(n)
		}
		if !*asJSON {
			fmt.Fprintf(a.stdout, "%s\n%s\n", res.HTML, res.Markdown)
		}
	}
	if *asJSON {
		if c := a.writeJSON(results); c != exitOK {
			return c
		}
	}
	return code
}
