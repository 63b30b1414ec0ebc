package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"syscall"
	"time"
)

// usage is what getrusage(RUSAGE_SELF) counts during one repetition, the same counters on
// both sides (the reference reads them with Python's resource.getrusage): they show why a
// ratio differs — page faults and system time come from the allocator, user time from
// the kernels (spinning OpenMP workers included), and involuntary context switches from
// other jobs taking the cores. perf would give the same page-fault counts (its
// page-faults event is this counter); this VM exposes no hardware counters (cycles,
// instructions) to it.
type usage struct {
	MinFlt float64 `json:"minflt"` // minor page faults
	MajFlt float64 `json:"majflt"` // major page faults (read from disk)
	UserMS float64 `json:"user_ms"`
	SysMS  float64 `json:"sys_ms"`
	InvCS  float64 `json:"nivcsw"` // involuntary context switches: preempted by other work
}

// measured is one side's repetitions of a case: milliseconds (or the case's own unit)
// and, where counted, each repetition's usage.
type measured struct {
	ms  []float64
	use []usage // nil, or one per repetition
}

func getrusage() syscall.Rusage {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru) // cannot fail for RUSAGE_SELF
	return ru
}

func tvMS(tv syscall.Timeval) float64 {
	return float64(time.Duration(tv.Nano())) / float64(time.Millisecond)
}

// usageBetween is the usage from a to b.
func usageBetween(a, b syscall.Rusage) usage {
	return usage{
		MinFlt: float64(b.Minflt - a.Minflt),
		MajFlt: float64(b.Majflt - a.Majflt),
		UserMS: tvMS(b.Utime) - tvMS(a.Utime),
		SysMS:  tvMS(b.Stime) - tvMS(a.Stime),
		InvCS:  float64(b.Nivcsw - a.Nivcsw),
	}
}

// medianUsage is the median of each counter over the repetitions.
func medianUsage(u []usage) usage {
	col := func(f func(usage) float64) float64 {
		v := make([]float64, len(u))
		for i, x := range u {
			v[i] = f(x)
		}
		return median(v)
	}
	return usage{
		MinFlt: col(func(x usage) float64 { return x.MinFlt }),
		MajFlt: col(func(x usage) float64 { return x.MajFlt }),
		UserMS: col(func(x usage) float64 { return x.UserMS }),
		SysMS:  col(func(x usage) float64 { return x.SysMS }),
		InvCS:  col(func(x usage) float64 { return x.InvCS }),
	}
}

// usageColumns formats the per-repetition medians of both sides as "ours/reference"
// columns: minor faults, major faults, user ms, system ms, involuntary context switches.
// Without the reference's counts, the reference part is "-"; without ours, all are empty.
func usageColumns(ours, ref []usage) []string {
	if len(ours) == 0 {
		return []string{"", "", "", "", ""}
	}
	o := medianUsage(ours)
	r, have := usage{}, len(ref) > 0
	if have {
		r = medianUsage(ref)
	}
	pair := func(a, b float64, f func(float64) string) string {
		if !have {
			return f(a) + "/-"
		}
		return f(a) + "/" + f(b)
	}
	return []string{
		pair(o.MinFlt, r.MinFlt, count),
		pair(o.MajFlt, r.MajFlt, count),
		pair(o.UserMS, r.UserMS, func(v float64) string { return fmt.Sprintf("%.0f", v) }),
		pair(o.SysMS, r.SysMS, func(v float64) string { return fmt.Sprintf("%.0f", v) }),
		pair(o.InvCS, r.InvCS, count),
	}
}

// count writes a counter compactly: 950, 12.3k, 4.56M.
func count(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%.1fk", v/1e3)
	default:
		return fmt.Sprintf("%.0f", v)
	}
}

// refResult is reference.py's result line (the last line of its output).
type refResult struct {
	MS    []float64        `json:"ms"`
	Usage []usage          `json:"usage"`
	Ops   map[string]int64 `json:"ops"`
}

// parseResult decodes reference.py's output: JSON on its last non-empty line (the lines
// before it are the reference's own prints). It checks that usage, when given, has one
// entry per timing.
func parseResult(out []byte) (refResult, error) {
	var res refResult
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	last := strings.TrimSpace(lines[len(lines)-1])
	if last == "" {
		return res, fmt.Errorf("no output")
	}
	if err := json.Unmarshal([]byte(last), &res); err != nil {
		return res, fmt.Errorf("unexpected output (want JSON on the last line): %.200s", last)
	}
	if res.Usage != nil && len(res.Usage) != len(res.MS) {
		return res, fmt.Errorf("%d usage counts for %d timings", len(res.Usage), len(res.MS))
	}
	return res, nil
}
