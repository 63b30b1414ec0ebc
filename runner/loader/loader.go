// Package loader feeds the training and validation loops with batches: worker goroutines
// decode samples, augment them and encode their targets in parallel, and a collector
// assembles the results, in order, into the batch tensors, a bounded number of batches
// ahead of the loop.
//
// For each sample a worker calls Dataset.Sample, FromImage and the transform,
// divides the boxes by the final image size (relative [0,1] corner form), rejects
// degenerate boxes with target.CheckBoxes, matches them to the priors (Matcher.Match, whose
// tensors it copies into Go memory and frees at once) and lays the image out channel-first
// (CHW) into a pooled buffer. The collector builds each batch's three tensors with one copy
// from Go memory per sample.
//
// Output is deterministic whatever the worker count: the order of an epoch is a function of
// (Seed, epoch), and the random generator of each sample's augmentation is seeded from
// (Seed, epoch, dataset index), so 1, 2 or 8 workers give bit-identical batches.
package loader

import (
	"errors"
	"fmt"
	"runtime"
	"sync"

	"github.com/rs/zerolog"

	"github.com/ssdrunner/ssdrunner/components/dataset"
	"github.com/ssdrunner/ssdrunner/components/target"
	"github.com/ssdrunner/ssdrunner/components/transform"
)

// Config configures a Loader (the experiment's data block and training seed).
type Config struct {
	// BatchSize is the number of samples per batch (fewer in a final short batch, and when
	// bad samples are skipped).
	BatchSize int
	// Workers is the number of sample-processing goroutines; 0 means runtime.NumCPU().
	Workers int
	// Prefetch is how many finished batches may wait for the consumer (at least 1).
	Prefetch int
	// Shuffle draws a new order every epoch (a function of Seed and the epoch); otherwise
	// samples come in dataset order.
	Shuffle bool
	// DropLast drops a final batch shorter than BatchSize (the reference keeps it).
	DropLast bool
	// Seed seeds the shuffle and every sample's augmentation.
	Seed int64
	// SkipBad drops bad samples (unreadable images, degenerate boxes, failing transforms)
	// from their batch, logging each distinct id once; otherwise Next fails on them.
	SkipBad bool
	// ImageSize is the width and height of the transform's output (e.g. 300); an output
	// of another size is an error.
	ImageSize int
	// Shard makes this loader one rank's part of a data-parallel job (see Shard); the zero
	// value is the whole data set.
	Shard Shard
}

// Shard is one rank's share of every epoch in a data-parallel job of World ranks.
//
// A step of the job is a global batch of World×BatchSize consecutive positions of the
// epoch's order (the same order for every rank and any world size: a function of the seed
// and the epoch); rank r gets the r-th of World contiguous, disjoint parts of it. So every
// sample is seen once per epoch, the union of the ranks' batches at step k is the batch k of
// one process with batch size World×BatchSize, and each sample keeps its augmentation
// (seeded by seed, epoch and dataset index). A short final global batch of m positions is
// split as evenly as possible (part r is [r·m/World, (r+1)·m/World)); a rank whose part is
// empty, or whose samples were all skipped as bad, gets an empty batch (Len 0, no tensors)
// so that every rank takes part in every step.
type Shard struct {
	Rank, World int
}

func (s Shard) world() int { return max(s.World, 1) }

// Validate checks the settings.
func (c Config) Validate() error {
	var errs []error
	if c.BatchSize < 1 {
		errs = append(errs, fmt.Errorf("batch size must be >= 1, got %d", c.BatchSize))
	}
	if c.Workers < 0 {
		errs = append(errs, fmt.Errorf("workers must be >= 0 (0 = one per CPU core), got %d", c.Workers))
	}
	if c.Prefetch < 1 {
		errs = append(errs, fmt.Errorf("prefetch must be >= 1, got %d", c.Prefetch))
	}
	if c.Shard.World < 0 || c.Shard.Rank < 0 || c.Shard.Rank >= max(c.Shard.World, 1) {
		errs = append(errs, fmt.Errorf("shard: rank %d of %d ranks", c.Shard.Rank, c.Shard.World))
	}
	if c.ImageSize < 1 || c.ImageSize > 16384 {
		errs = append(errs, fmt.Errorf("image size must be in [1, 16384], got %d", c.ImageSize))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("loader: %w", err)
	}
	return nil
}

// Loader produces the batches of a dataset, one epoch at a time. A Loader may serve
// several epochs (one after the other, or several at once on different Iters); it does not
// own the dataset, transform or matcher.
type Loader struct {
	ds        dataset.Dataset
	tf        transform.Transform
	m         *target.Matcher
	cfg       Config
	log       zerolog.Logger
	n         int       // samples in the dataset
	numPriors int       // P
	pool      sync.Pool // *sampleBuf
	stats     statsCounter
}

// New returns a loader of ds that applies tf and encodes targets with m. The matcher's
// priors must be on the CPU. log receives a warning for each distinct bad sample skipped.
func New(ds dataset.Dataset, tf transform.Transform, m *target.Matcher, cfg Config, log zerolog.Logger) (*Loader, error) {
	if ds == nil || tf == nil || m == nil {
		return nil, errors.New("loader: a dataset, a transform and a matcher are needed")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	n := ds.Len()
	if n < 1 {
		return nil, errors.New("loader: the dataset is empty")
	}
	if cfg.Workers == 0 {
		cfg.Workers = runtime.NumCPU()
	}
	l := &Loader{ds: ds, tf: tf, m: m, cfg: cfg, log: log, n: n, numPriors: int(m.NumPriors())}
	l.stats.warned = make(map[string]bool)
	pixels := 3 * cfg.ImageSize * cfg.ImageSize
	p := l.numPriors
	l.pool.New = func() any {
		return &sampleBuf{image: make([]float32, pixels), loc: make([]float32, 4*p), labels: make([]int64, p)}
	}
	return l, nil
}

// Len is the number of batches of an epoch: the dataset's samples divided by the batch
// size (the global batch, World×BatchSize, for a shard), rounded up (down with DropLast).
// Batches whose samples are all bad are skipped, so an epoch may yield fewer (not for a
// shard, which yields an empty batch instead).
func (l *Loader) Len() int {
	b := l.globalBatch()
	if l.cfg.DropLast {
		return l.n / b
	}
	return (l.n + b - 1) / b
}

// globalBatch is the number of positions of the epoch's order that a step consumes.
func (l *Loader) globalBatch() int { return l.cfg.BatchSize * l.cfg.Shard.world() }

// samples is the number of samples an epoch visits (all ranks together).
func (l *Loader) samples() int {
	if l.cfg.DropLast {
		return l.n / l.globalBatch() * l.globalBatch()
	}
	return l.n
}

// plan returns the positions of order (the epoch's order after the skipped steps) that
// this loader yields, and the end (exclusive) of each of its batches in that list.
func (l *Loader) plan(order []int) (mine, ends []int) {
	sh, gb := l.cfg.Shard, l.globalBatch()
	w := sh.world()
	if w == 1 {
		for lo := 0; lo < len(order); lo += gb {
			ends = append(ends, min(lo+gb, len(order)))
		}
		return order, ends
	}
	for lo := 0; lo < len(order); lo += gb {
		m := min(gb, len(order)-lo)
		a, b := lo+sh.Rank*m/w, lo+(sh.Rank+1)*m/w
		mine = append(mine, order[a:b]...)
		ends = append(ends, len(mine))
	}
	return mine, ends
}

// Config returns the settings in effect (Workers resolved).
func (l *Loader) Config() Config { return l.cfg }
