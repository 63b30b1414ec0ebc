package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"text/tabwriter"
)

// A row of the results that -json writes: one case's medians and ratios.
type resultRow struct {
	Name   string  `json:"name"`
	OursMS float64 `json:"ours_ms"`
	RefMS  float64 `json:"ref_ms,omitempty"`
	Ratio  float64 `json:"ratio,omitempty"`
	Lo     float64 `json:"ratio_lo,omitempty"`
	Hi     float64 `json:"ratio_hi,omitempty"`
	Target string  `json:"target,omitempty"`
}

// isTrainingCase reports whether a case times a training step (forward+backward or the
// whole optimizer step): the cases whose ratio the allocator moves most, which make bench
// shows under both malloc policies.
func isTrainingCase(name string) bool {
	return strings.Contains(name, "forward+backward") || strings.Contains(name, "optimizer step")
}

func writeRows(path string, rows []resultRow) error {
	b, err := json.MarshalIndent(rows, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// sameMallocRows runs this program again with -same-malloc on the named cases (their
// table goes to stderr, as progress) and returns its rows.
func sameMallocRows(names []string, threads, rounds int, quick bool) ([]resultRow, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "refbench-columns-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "rows.json")
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = regexp.QuoteMeta(n)
	}
	args := []string{"-same-malloc", "-malloc-columns=false", "-json", out,
		"-threads", fmt.Sprint(threads), "-rounds", fmt.Sprint(rounds), fmt.Sprintf("-paired=%v", pairedRounds),
		"-run", "^(" + strings.Join(quoted, "|") + ")$"}
	if quick {
		args = append(args, "-quick")
	}
	cmd := exec.Command(exe, args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("refbench -same-malloc: %w", err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		return nil, err
	}
	var rows []resultRow
	if err := json.Unmarshal(b, &rows); err != nil {
		return nil, fmt.Errorf("refbench -same-malloc wrote %s: %w", out, err)
	}
	return rows, nil
}

// printMallocColumns prints, for every training case, its ratio as users run the
// reference (each side's own allocator) beside its ratio with the same malloc policy on
// both sides.
func printMallocColumns(w io.Writer, users, same []resultRow) {
	bySame := map[string]resultRow{}
	for _, r := range same {
		bySame[r.Name] = r
	}
	fmt.Fprintln(w, "\ntraining cases under both malloc policies (ratio = ours / reference, median of the rounds, the rounds' range in brackets):")
	fmt.Fprintln(w, "  as users run it: each side's own allocator (ours: libtorch's allocator on huge pages, one arena; the reference: glibc's default malloc)")
	fmt.Fprintf(w, "  -same-malloc: both sides on %s (what is left is the framework's own cost)\n", strings.Join(identicalMalloc, " "))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "case\tas users run it\t-same-malloc\ttarget (-same-malloc)\t")
	col := func(r resultRow, ok bool) string {
		if !ok || r.Ratio == 0 {
			return "-"
		}
		return fmt.Sprintf("%.2f [%.2f–%.2f]", r.Ratio, r.Lo, r.Hi)
	}
	for _, u := range users {
		s, ok := bySame[u.Name]
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\n", u.Name, col(u, true), col(s, ok), u.Target)
	}
	tw.Flush()
}
