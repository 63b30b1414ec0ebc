package loader

import (
	"sync"
	"sync/atomic"
	"time"
)

// Stats counts what a Loader did over its lifetime (every epoch so far).
type Stats struct {
	Batches int64 // batches delivered to Next's callers
	Loaded  int64 // samples delivered in those batches
	Skipped int64 // bad samples dropped (each time one was met)
	// SkippedIDs are the distinct ids of the skipped samples, in the order first met.
	SkippedIDs []string

	// Time spent in each stage, summed over the workers (so it can exceed wall time).
	Read      time.Duration // Dataset.Sample: file reading and image decoding
	Transform time.Duration // FromImage and the transform chain
	Target    time.Duration // box checks, matching and copying the targets out
	Layout    time.Duration // the image's HWC to CHW copy
	// Collate is the collector's time building the batch tensors.
	Collate time.Duration
	// Wait is the time Next blocked waiting for a batch (the loop starved of data).
	Wait time.Duration
}

// statsCounter accumulates Stats from the workers, the collector and Next.
type statsCounter struct {
	batches, loaded, skipped                           atomic.Int64
	read, transform, target, layout, collate, waitTime atomic.Int64 // nanoseconds

	mu     sync.Mutex
	warned map[string]bool
	ids    []string
}

// skip records a skipped sample and reports whether its id is new (to be logged).
func (s *statsCounter) skip(id string) bool {
	s.skipped.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.warned[id] {
		return false
	}
	s.warned[id] = true
	s.ids = append(s.ids, id)
	return true
}

func since(c *atomic.Int64, t time.Time) time.Time {
	now := time.Now()
	c.Add(int64(now.Sub(t)))
	return now
}

// Stats returns the counts so far.
func (l *Loader) Stats() Stats {
	s := &l.stats
	s.mu.Lock()
	ids := append([]string(nil), s.ids...)
	s.mu.Unlock()
	return Stats{
		Batches:    s.batches.Load(),
		Loaded:     s.loaded.Load(),
		Skipped:    s.skipped.Load(),
		SkippedIDs: ids,
		Read:       time.Duration(s.read.Load()),
		Transform:  time.Duration(s.transform.Load()),
		Target:     time.Duration(s.target.Load()),
		Layout:     time.Duration(s.layout.Load()),
		Collate:    time.Duration(s.collate.Load()),
		Wait:       time.Duration(s.waitTime.Load()),
	}
}
