package train

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ssdrunner/ssdrunner/internal/progress"
)

// console writes what a person watching the run reads: a progress bar per epoch on a
// terminal, a per-class AP table after each validation, and the final summary.
type console struct {
	w        io.Writer
	terminal bool
}

func newConsole(w io.Writer, terminal bool) *console { return &console{w: w, terminal: terminal} }

func (c *console) line(s string) {
	if c.terminal {
		fmt.Fprintln(c.w, s)
	}
}

// bar is one epoch's progress bar.
type bar struct {
	p             *progress.Bar
	epoch, epochs int
	steps         int
}

func (c *console) startEpoch(epoch, epochs, steps, first int) *bar {
	return &bar{p: progress.New(c.w, c.terminal, int64(steps), int64(first)), epoch: epoch, epochs: epochs, steps: steps}
}

// update redraws the bar (at most ten times a second): "epoch 3/8 [====    ] 120/400
// 16.4 img/s  loss 4.1234  lr base_net 0.005, heads 0.01  ETA 2m10s".
func (b *bar) update(step int, loss, ips float64, lrs map[string]float64) {
	if !b.p.Due(int64(step)) {
		return
	}
	var lr []string
	for _, g := range sortedNames(lrs) {
		lr = append(lr, fmt.Sprintf("%s %.3g", g, lrs[g]))
	}
	b.p.Update(int64(step), fmt.Sprintf("epoch %d/%d", b.epoch, b.epochs), fmt.Sprintf("%d/%d", step, b.steps),
		fmt.Sprintf("%.1f img/s  loss %.4f  lr %s", ips, loss, strings.Join(lr, ", ")))
}

func (b *bar) done() { b.p.Done() }

// validation prints a validation's per-class AP table.
func (c *console) validation(v Validation, best *Best) {
	fmt.Fprintf(c.w, "Validation after epoch %d: loss %.4f (regression %.4f, classification %.4f), %s mAP %.4f",
		v.Epoch, v.Loss, v.Regression, v.Classification, v.Metric, v.MAP)
	if best != nil {
		fmt.Fprintf(c.w, " (best: epoch %d, %s %.4f)", best.Epoch, best.Metric, best.Value)
	}
	fmt.Fprintln(c.w)
	writeAPTable(c.w, v.PerClass)
}

func writeAPTable(w io.Writer, classes []ClassAP) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  class\tAP\t")
	for _, cl := range classes {
		fmt.Fprintf(tw, "  %s\t%.4f\t\n", cl.Class, cl.AP)
	}
	tw.Flush()
}

// summary prints the end-of-run summary.
func (c *console) summary(s *Summary, classes []string) {
	fmt.Fprintf(c.w, "\nRun %s %s: %d/%d epochs, %d steps, %s, %.1f images/s\n", s.Experiment, s.Status, s.EpochsDone,
		s.Epochs, s.Steps, time.Duration(s.WallSeconds*float64(time.Second)).Round(time.Second), s.ImagesPerSec)
	if s.BestMAP != nil {
		fmt.Fprintf(c.w, "  best mAP: %.4f (%s, epoch %d)\n", s.BestMAP.MAP, s.BestMAP.Metric, s.BestMAP.Epoch)
	}
	if s.Last != nil {
		fmt.Fprintf(c.w, "  last mAP: %.4f (epoch %d), validation loss %.4f\n", s.Last.MAP, s.Last.Epoch, s.Last.Loss)
		writeAPTable(c.w, s.Last.PerClass)
	}
	if len(s.Skipped) > 0 {
		fmt.Fprintf(c.w, "  skipped %d bad sample(s): %s\n", len(s.Skipped), strings.Join(capList(s.Skipped, 10), ", "))
	}
	if s.NonFinite > 0 {
		fmt.Fprintf(c.w, "  skipped %d batch(es) with a non-finite loss or gradient\n", s.NonFinite)
	}
	fmt.Fprintf(c.w, "  run folder: %s (results.csv, metrics.jsonl, charts/, checkpoints/, summary.json)\n", s.RunDir)
}

func capList(s []string, n int) []string {
	if len(s) <= n {
		return s
	}
	return append(append([]string(nil), s[:n]...), fmt.Sprintf("… %d more", len(s)-n))
}

func sortedNames(m map[string]float64) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
