package train

import (
	"context"
	"encoding/json"
	"path/filepath"

	"github.com/ssdrunner/ssdrunner/runner/plan"
	"github.com/ssdrunner/ssdrunner/runner/report"
)

// writeReport writes plan.json (the model's size, the datasets' sizes: what the run folder's
// other files do not record) and rewrites the run's report (runner/report: report.html,
// report.md, charts/). A failure is logged, not returned: the report is derived from files
// the run has already written, and `runner report` can make it again. Only the process that
// writes the run folder (rank 0 of a data-parallel job) writes it.
func (t *trainer) writeReport() {
	if !t.writes() { // a data-parallel rank other than 0 has no run folder
		return
	}
	js, err := json.MarshalIndent(plan.Summarize(t.res, t.run), "", "  ")
	if err == nil {
		err = writeAtomic(filepath.Join(t.dir, "plan.json"), append(js, '\n'))
	}
	if err != nil {
		t.log.Warn().Err(err).Msg("cannot write plan.json")
	}
	// Not t.ctx: the report after an interruption is the one that says so.
	res, err := report.Write(context.Background(), t.dir)
	if err != nil {
		t.log.Warn().Err(err).Msg("cannot write the run report")
		return
	}
	for _, n := range res.Notes {
		t.log.Warn().Msg("run report: " + n)
	}
	t.log.Debug().Str("path", res.HTML).Msg("run report written")
}
