// Package progress draws a one-line progress bar on a terminal: a label, a bar of '='
// filled in proportion, the count done, the caller's text and an estimate of the time
// left, redrawn in place ("\r", erase line) at most ten times a second.
package progress

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Width is the number of cells of the bar.
const Width = 24

// minRedraw is the shortest time between two redraws (the last one always draws).
const minRedraw = 100 * time.Millisecond

// Bar is one progress bar. Its methods do nothing when it was made for a writer that is
// not a terminal, so callers need not check.
type Bar struct {
	w        io.Writer
	terminal bool
	total    int64
	first    int64 // the count at start (work already done before, e.g. a resumed epoch)
	start    time.Time
	last     time.Time
	drawn    bool
}

// New returns a bar of total units, first of them already done before this bar's work
// began (the ETA counts only the rate of this bar's own work).
func New(w io.Writer, terminal bool, total, first int64) *Bar {
	return &Bar{w: w, terminal: terminal, total: total, first: first, start: time.Now()}
}

// Due reports whether Update(done, …) would draw now (callers with costly texts ask first).
func (b *Bar) Due(done int64) bool {
	return b.terminal && !((b.total <= 0 || done < b.total) && time.Since(b.last) < minRedraw)
}

// Update redraws the bar: "<label> [====    ] <count>  <text>  ETA <left>". count is the
// text of done out of the total (the caller's units: "12/50", "3.1/9.8 MB"). Redraws are
// throttled to ten a second, except when done reaches the total.
func (b *Bar) Update(done int64, label, count, text string) {
	if !b.Due(done) {
		return
	}
	now := time.Now()
	b.last = now
	filled := 0
	if b.total > 0 {
		filled = int(min(max(Width*done/b.total, 0), Width))
	}
	eta := "?"
	if d := done - b.first; d > 0 && b.total > 0 {
		left := time.Duration(float64(now.Sub(b.start)) / float64(d) * float64(b.total-done))
		eta = left.Round(time.Second).String()
	}
	if text != "" {
		text += "  "
	}
	fmt.Fprintf(b.w, "\r\033[K%s [%s%s] %s  %sETA %s", label, strings.Repeat("=", filled), strings.Repeat(" ", Width-filled), count, text, eta)
	b.drawn = true
}

// SetTotal changes the total (e.g. once a download's size is known; < 0: unknown, no bar).
func (b *Bar) SetTotal(total int64) { b.total = max(total, 0) }

// Elapsed is the time since the bar was made.
func (b *Bar) Elapsed() time.Duration { return time.Since(b.start) }

// Done ends the bar's line (when something was drawn), so that what follows starts on a
// new line.
func (b *Bar) Done() {
	if b.terminal && b.drawn {
		fmt.Fprintln(b.w)
		b.drawn = false
	}
}
