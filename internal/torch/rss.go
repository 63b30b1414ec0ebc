package torch

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// RSS returns the resident set size of this process in bytes, read from /proc/self/statm
// (Linux only).
func RSS() (int64, error) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, fmt.Errorf("torch: reading resident set size: %w", err)
	}
	fields := strings.Fields(string(b))
	if len(fields) < 2 {
		return 0, fmt.Errorf("torch: /proc/self/statm: expected at least 2 fields, got %q", b)
	}
	pages, err := strconv.ParseInt(fields[1], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("torch: /proc/self/statm: resident pages: %w", err)
	}
	return pages * int64(os.Getpagesize()), nil
}

// Growth is the memory that repeated calls of a step gained, as measured by MeasureGrowth.
type Growth struct {
	Steps  int   // measured steps, after the warm-up
	RSS    int64 // change of the resident set size over the measured steps, bytes
	Malloc int64 // change of the C-heap bytes in use (MallocInUse) over the measured steps
}

// RSSPerStep returns the RSS growth per measured step in bytes.
func (g Growth) RSSPerStep() float64 { return perStep(g.RSS, g.Steps) }

// MallocPerStep returns the C-heap growth per measured step in bytes.
func (g Growth) MallocPerStep() float64 { return perStep(g.Malloc, g.Steps) }

func perStep(b int64, steps int) float64 {
	if steps <= 0 {
		return 0
	}
	return float64(b) / float64(steps)
}

// MeasureGrowth runs step warmup times (so that allocator pools, libtorch caches and
// optimizer state reach their steady size), then steps more times, and reports how much
// RSS and C-heap memory the measured steps added. The argument of step is the step index,
// counting from 0 over both phases. A training step that frees every tensor it creates
// shows a C-heap growth near zero per step; one that leaks a tensor per step shows at
// least that tensor's size per step. RSS is coarser: it also moves by a few MB at once,
// up or down, as libraries and the Go runtime map and unmap memory.
//
// Before each of its two readings it gives free memory back to the kernel (Go's
// debug.FreeOSMemory and glibc's malloc_trim): otherwise Go garbage not yet collected and
// malloc's free lists, whose size depends on what the process ran before, show as RSS
// growth without being leaks. Memory a leak holds is in use and stays counted.
func MeasureGrowth(warmup, steps int, step func(i int) error) (Growth, error) {
	for i := 0; i < warmup; i++ {
		if err := step(i); err != nil {
			return Growth{}, fmt.Errorf("torch: warm-up step %d: %w", i, err)
		}
	}
	releaseFreeMemory()
	rss0, err := RSS()
	if err != nil {
		return Growth{}, err
	}
	heap0 := MallocInUse()
	for i := warmup; i < warmup+steps; i++ {
		if err := step(i); err != nil {
			return Growth{}, fmt.Errorf("torch: step %d: %w", i, err)
		}
	}
	releaseFreeMemory()
	rss1, err := RSS()
	if err != nil {
		return Growth{}, err
	}
	return Growth{Steps: steps, RSS: rss1 - rss0, Malloc: MallocInUse() - heap0}, nil
}
