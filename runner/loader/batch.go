package loader

import (
	"fmt"
	"time"

	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/internal/torch"
)

// Batch is a group of samples ready for the model. Its tensors are on the CPU and owned by
// the batch: Close frees them.
type Batch struct {
	Images *ts.Tensor // [B,3,S,S] float32, normalised, channel-first
	Loc    *ts.Tensor // [B,P,4] float32 encoded regression targets
	Labels *ts.Tensor // [B,P] int64 class of every prior, 0 for background
	// Indices are the dataset indices of the samples, in batch order.
	Indices []int
	// IDs are the samples' ids, in batch order.
	IDs []string
	// Sizes are the original (width, height) of each image, to scale detections back.
	Sizes [][2]int
}

// Len is the number of samples in the batch.
func (b *Batch) Len() int { return len(b.Indices) }

// Close frees the batch's tensors. It may be called more than once.
func (b *Batch) Close() {
	for _, t := range []**ts.Tensor{&b.Images, &b.Loc, &b.Labels} {
		if *t != nil {
			(*t).MustDrop()
			*t = nil
		}
	}
}

// collate builds the batch of the good results rs (in order) and returns their buffers to
// the pool.
func (l *Loader) collate(rs []result) (*Batch, error) {
	t := time.Now()
	defer since(&l.stats.collate, t)
	n := len(rs)
	b := &Batch{Indices: make([]int, n), IDs: make([]string, n), Sizes: make([][2]int, n)}
	images := make([][]float32, n)
	locs := make([][]float32, n)
	labels := make([][]int64, n)
	for k, r := range rs {
		b.Indices[k], b.IDs[k], b.Sizes[k] = r.index, r.id, r.size
		images[k], locs[k], labels[k] = r.buf.image, r.buf.loc, r.buf.labels
	}
	s, p := int64(l.cfg.ImageSize), int64(l.numPriors)
	var err error
	if b.Images, err = torch.FromSlices([]int64{int64(n), 3, s, s}, images...); err == nil {
		if b.Loc, err = torch.FromSlices([]int64{int64(n), p, 4}, locs...); err == nil {
			b.Labels, err = torch.FromSlices([]int64{int64(n), p}, labels...)
		}
	}
	for _, r := range rs {
		l.pool.Put(r.buf)
	}
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("loader: building a batch: %w", err)
	}
	return b, nil
}
