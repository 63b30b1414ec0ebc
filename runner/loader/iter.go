package loader

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ssdrunner/ssdrunner/internal/torch"
)

// Iter yields the batches of one epoch. It is meant for one consumer goroutine: Next and
// Close must not be called concurrently.
//
// Memory is bounded: at most BatchSize + 2*Workers samples are being processed or wait
// for the collector (about 1.1 MB each in Go memory at 300x300 with 3000 priors), besides
// the samples of the batch the collector is assembling; at most Prefetch finished batches
// wait for Next, plus one the collector holds while the queue is full.
type Iter struct {
	l        *Loader
	epoch    int
	ctx      context.Context
	cancel   context.CancelFunc
	out      chan item
	wg       sync.WaitGroup
	finished atomic.Bool // the collector delivered every batch
	err      error       // sticky: io.EOF, the first failure, or errClosed
	stopped  bool
}

// item is one element of the prefetch queue: a batch or the error that ends the epoch.
type item struct {
	batch *Batch
	err   error
}

var errClosed = errors.New("loader: Next on a closed iterator")

// Epoch starts the workers of epoch (0-based; it seeds the shuffle and the augmentation)
// and returns its batches' iterator. Cancelling ctx stops the workers; the caller must
// Close the iterator (after io.EOF it is already stopped, and Close is a no-op).
func (l *Loader) Epoch(ctx context.Context, epoch int) *Iter {
	return l.EpochFrom(ctx, epoch, 0)
}

// EpochFrom is Epoch without its first skip batches: it yields exactly the batches that
// Epoch yields after its first skip ones (those are not loaded at all), which is how a
// run interrupted in the middle of an epoch continues it.
func (l *Loader) EpochFrom(ctx context.Context, epoch, skip int) *Iter {
	ctx, cancel := context.WithCancel(ctx)
	it := &Iter{l: l, epoch: epoch, ctx: ctx, cancel: cancel, out: make(chan item, l.cfg.Prefetch)}
	order := epochOrder(l.n, l.cfg.Shuffle, l.cfg.Seed, epoch)[:l.samples()]
	order = order[min(max(skip, 0)*l.globalBatch(), len(order)):]
	order, ends := l.plan(order)
	m := len(order)
	workers := min(l.cfg.Workers, max(m, 1))
	window := min(m, l.cfg.BatchSize+2*workers) // samples between dispatch and the collector
	tokens := make(chan struct{}, max(window, 1))
	jobs := make(chan int, workers)
	done := make(chan result, max(window, 1))

	it.wg.Add(2 + workers)
	go func() { // dispatcher: positions in order, at most window ahead of the collector
		defer it.wg.Done()
		defer close(jobs)
		for p := range m {
			select {
			case tokens <- struct{}{}:
			case <-ctx.Done():
				return
			}
			select {
			case jobs <- p:
			case <-ctx.Done():
				return
			}
		}
	}()
	for range workers {
		go func() {
			defer it.wg.Done()
			// Matching runs libtorch ops, whose errors gotch reports through a per-OS-thread
			// variable read in a second cgo call: stay on one thread, with one OpenMP
			// thread, beside the training step's team.
			torch.LockHelperThread()
			for p := range jobs {
				if ctx.Err() != nil {
					return
				}
				r := l.process(epoch, p, order[p])
				select {
				case done <- r:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	go it.collect(order, ends, tokens, done)
	return it
}

// collect assembles the results of each batch's positions (batch k ends before ends[k]),
// in order, into batches and queues them (or the error that ends the epoch).
func (it *Iter) collect(order, ends []int, tokens <-chan struct{}, done <-chan result) {
	defer it.wg.Done()
	defer close(it.out)
	torch.LockHelperThread() // it builds the batch tensors (see the workers)
	l := it.l
	sharded := l.cfg.Shard.world() > 1
	pending := make(map[int]result)
	loaded, skipped := 0, 0
	lo := 0
	for _, hi := range ends {
		good := make([]result, 0, hi-lo)
		for p := lo; p < hi; p++ {
			r, ok := pending[p]
			for !ok {
				select {
				case x := <-done:
					if x.pos == p {
						r, ok = x, true
					} else {
						pending[x.pos] = x
					}
				case <-it.ctx.Done():
					return
				}
			}
			delete(pending, p)
			<-tokens
			switch {
			case r.fatal != nil:
				it.send(item{err: r.fatal})
				return
			case r.bad != nil && !l.cfg.SkipBad:
				it.send(item{err: r.bad})
				return
			case r.bad != nil:
				skipped++
				if l.stats.skip(r.id) {
					l.log.Warn().Err(r.bad).Str("id", r.id).Int("index", r.index).Msg("skipping bad sample")
				}
			default:
				good = append(good, r)
			}
		}
		lo = hi
		if len(good) == 0 {
			if sharded && !it.send(item{batch: &Batch{}}) {
				return
			}
			continue
		}
		b, err := l.collate(good)
		if err != nil {
			it.send(item{err: err})
			return
		}
		if !it.send(item{batch: b}) {
			b.Close()
			return
		}
		loaded += len(good)
	}
	// (a shard's share may be a handful of samples: a data-parallel trainer counts every rank's)
	if loaded == 0 && skipped > 0 && !sharded {
		it.send(item{err: fmt.Errorf("loader: epoch %d: every sample is bad (%d skipped)", it.epoch, skipped)})
		return
	}
	it.finished.Store(true)
}

// send queues x unless the epoch is cancelled first; it reports whether x was queued.
func (it *Iter) send(x item) bool {
	select {
	case it.out <- x:
		return true
	case <-it.ctx.Done():
		return false
	}
}

// Next returns the next batch, which the caller must Close, or io.EOF at the end of the
// epoch. Without SkipBad a bad sample ends the epoch with an error naming it; so does the
// cancellation of the epoch's context. Errors are sticky: later calls return them again.
func (it *Iter) Next() (*Batch, error) {
	if it.err != nil {
		return nil, it.err
	}
	if it.ctx.Err() != nil { // cancelled: do not hand out the batches queued before
		it.err = fmt.Errorf("loader: epoch %d stopped: %w", it.epoch, context.Cause(it.ctx))
		it.stop()
		return nil, it.err
	}
	t := time.Now()
	x, ok := <-it.out
	since(&it.l.stats.waitTime, t)
	switch {
	case ok && x.err == nil:
		it.l.stats.batches.Add(1)
		it.l.stats.loaded.Add(int64(x.batch.Len()))
		return x.batch, nil
	case ok:
		it.err = x.err
	case it.finished.Load():
		it.err = io.EOF
	default:
		it.err = fmt.Errorf("loader: epoch %d stopped: %w", it.epoch, context.Cause(it.ctx))
	}
	it.stop()
	return nil, it.err
}

// Close stops the workers, waits for them to exit and frees the batches prepared ahead.
// It may be called at any time, more than once.
func (it *Iter) Close() {
	it.stop()
	if it.err == nil {
		it.err = errClosed
	}
}

// stop cancels the epoch, waits for its goroutines and frees the queued batches.
func (it *Iter) stop() {
	if it.stopped {
		return
	}
	it.stopped = true
	it.cancel()
	it.wg.Wait()
	for x := range it.out {
		if x.batch != nil {
			x.batch.Close()
		}
	}
}
