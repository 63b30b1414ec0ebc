package config

import (
	"bytes"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// WriteDiagnostics prints diagnostics for people, one per paragraph:
//
//	experiments/x.hcl:12:5: error: Unsupported argument
//	   12 |     widht_mult = 1.0
//	      |     ^^^^^^^^^^
//	  An argument named "widht_mult" is not expected here. Did you mean "width_mult"?
//
// They come out sorted by file, line and column (those without a place first), each
// distinct one once (a base inherited along two paths reports its errors twice), and at
// most MaxPrinted of them, followed by a count of the rest.
func WriteDiagnostics(w io.Writer, diags hcl.Diagnostics, files map[string]*hcl.File) {
	diags = Tidy(diags)
	for i, d := range diags {
		if i == MaxPrinted {
			fmt.Fprintf(w, "\n… and %d more (the first %d are shown).\n", len(diags)-i, i)
			return
		}
		if i > 0 {
			fmt.Fprintln(w)
		}
		sev := "error"
		if d.Severity == hcl.DiagWarning {
			sev = "warning"
		}
		if d.Subject != nil {
			fmt.Fprintf(w, "%s: %s: %s\n", rangeString(*d.Subject), sev, d.Summary)
			writeSnippet(w, *d.Subject, files)
		} else {
			fmt.Fprintf(w, "%s: %s\n", sev, d.Summary)
		}
		if d.Detail != "" {
			fmt.Fprintf(w, "  %s\n", d.Detail)
		}
	}
}

// MaxPrinted is how many diagnostics WriteDiagnostics prints.
const MaxPrinted = 50

// Tidy returns diags sorted by file, line and column (diagnostics without a place first,
// in their order) with exact duplicates removed.
func Tidy(diags hcl.Diagnostics) hcl.Diagnostics {
	type key struct {
		sev             hcl.DiagnosticSeverity
		summary, detail string
		rng             hcl.Range
	}
	seen := make(map[key]bool, len(diags))
	out := make(hcl.Diagnostics, 0, len(diags))
	for _, d := range diags {
		k := key{sev: d.Severity, summary: d.Summary, detail: d.Detail}
		if d.Subject != nil {
			k.rng = *d.Subject
		}
		if !seen[k] {
			seen[k] = true
			out = append(out, d)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i].Subject, out[j].Subject
		switch {
		case a == nil || b == nil:
			return a == nil && b != nil
		case a.Filename != b.Filename:
			return a.Filename < b.Filename
		case a.Start.Line != b.Start.Line:
			return a.Start.Line < b.Start.Line
		}
		return a.Start.Column < b.Start.Column
	})
	return out
}

func writeSnippet(w io.Writer, r hcl.Range, files map[string]*hcl.File) {
	f, ok := files[r.Filename]
	if !ok || f == nil || r.Start.Line < 1 {
		return
	}
	lines := bytes.Split(f.Bytes, []byte("\n"))
	if r.Start.Line > len(lines) {
		return
	}
	line := strings.TrimRight(string(lines[r.Start.Line-1]), "\r")
	num := fmt.Sprintf("%d", r.Start.Line)
	fmt.Fprintf(w, "  %s | %s\n", num, line)
	start := r.Start.Column - 1
	end := len(line)
	if r.End.Line == r.Start.Line && r.End.Column > r.Start.Column {
		end = r.End.Column - 1
	}
	if start < 0 || start > len(line) {
		return
	}
	if end > len(line) {
		end = len(line)
	}
	width := max(1, len([]rune(line[start:end])))
	pad := strings.Map(func(r rune) rune {
		if r == '\t' {
			return '\t'
		}
		return ' '
	}, line[:start])
	fmt.Fprintf(w, "  %s | %s%s\n", strings.Repeat(" ", len(num)), pad, strings.Repeat("^", width))
}

// JSONDiagnostic is the machine form of a diagnostic (`--json`).
type JSONDiagnostic struct {
	Severity string     `json:"severity"`
	Summary  string     `json:"summary"`
	Detail   string     `json:"detail,omitempty"`
	Range    *JSONRange `json:"range,omitempty"`
}

// JSONRange locates a diagnostic; lines and columns start at 1.
type JSONRange struct {
	Filename  string `json:"filename"`
	Line      int    `json:"line"`
	Column    int    `json:"column"`
	EndLine   int    `json:"end_line"`
	EndColumn int    `json:"end_column"`
}

// ToJSON converts diagnostics to their machine form.
func ToJSON(diags hcl.Diagnostics) []JSONDiagnostic {
	diags = Tidy(diags)
	out := make([]JSONDiagnostic, 0, len(diags))
	for _, d := range diags {
		j := JSONDiagnostic{Severity: "error", Summary: d.Summary, Detail: d.Detail}
		if d.Severity == hcl.DiagWarning {
			j.Severity = "warning"
		}
		if d.Subject != nil {
			s := d.Subject
			j.Range = &JSONRange{Filename: s.Filename, Line: s.Start.Line, Column: s.Start.Column, EndLine: s.End.Line, EndColumn: s.End.Column}
		}
		out = append(out, j)
	}
	return out
}
