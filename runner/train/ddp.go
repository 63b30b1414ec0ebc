package train

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/internal/dist"
	"github.com/ssdrunner/ssdrunner/internal/torch"
	"github.com/ssdrunner/ssdrunner/runner/loader"
)

// Data-parallel training (Options.Dist), with PyTorch DDP's semantics:
//
//   - rank 0 broadcasts the model's variables (weights and BatchNorm buffers) before the
//     first step, and, on a resume, the checkpoint it reads, so every rank starts from the
//     same state without a shared file system;
//   - every rank trains on its shard of each global batch (loader.Shard): World ranks of
//     batch B see, step by step, the samples of one process with batch World×B;
//   - after the backward pass the gradients are summed over the ranks in buckets of about
//     bucketBytes (one allreduce per bucket), so every rank applies the same update and
//     the weights stay identical;
//   - BatchNorm statistics are per rank in training mode, unless training.sync_batchnorm
//     makes the batch norms normalise over the global batch (dist.Group.SyncBatchNorm,
//     exactly one process's batch norm over World×B); before a validation (and so in
//     every checkpoint, which rank 0 writes) the running statistics are rank 0's, as DDP's
//     broadcast_buffers gives them;
//   - validation is sharded too, and the detections, ground truths and per-batch losses
//     are gathered, so every metric equals a one-process evaluation;
//   - only rank 0 writes the run folder, logs and checkpoints.
//
// One deliberate difference from DDP over the reference's train_ssd.py: the MultiBox loss
// is divided by the number of positive priors of the whole global batch (a scalar
// allreduce per step), not each rank's own; with per-rank normalisation the averaged
// gradient is not the gradient of any one-process batch. So the job computes the
// gradient of one process with batch World×B (up to float32 summation order), and the
// loss it logs is that process's loss.
//
// The per-step scalar allreduce also carries the stop request (Ctrl-C on any rank) and
// the image count, so every rank stops after the same step and skips the same non-finite
// batches: no rank is left waiting in a collective its peers never reach.
//
// Not overlapped with the backward pass: gotch exposes no autograd hooks, so the buckets
// are reduced after backward returns (gloo's threads run a bucket while the next is queued).

// bucketBytes is the gradient bucket size (DDP's default bucket_cap_mb = 25).
const bucketBytes = 25 << 20

// ddp is the trainer's data-parallel state; nil for a one-process run.
type ddp struct {
	g       *dist.Group
	params  []*ts.Tensor // trainable variables, by name
	buffers []*ts.Tensor // the other variables (BatchNorm running statistics), by name
	buckets [][]*ts.Tensor
	stop    bool // a rank asked to stop at the last step's vote
	syncBN  bool // the model's batch norms are synchronised (collectives in forward and backward)
}

func newDDP(g *dist.Group, vars map[string]*ts.Tensor) *ddp {
	d := &ddp{g: g}
	names := make([]string, 0, len(vars))
	for n := range vars {
		names = append(names, n)
	}
	sort.Strings(names)
	var size int64
	var bucket []*ts.Tensor
	for _, n := range names {
		v := vars[n]
		if !v.MustRequiresGrad() {
			d.buffers = append(d.buffers, v)
			continue
		}
		d.params = append(d.params, v)
		bucket = append(bucket, v)
		size += int64(v.Numel()) * int64(v.DType().Size())
		if size >= bucketBytes {
			d.buckets, bucket, size = append(d.buckets, bucket), nil, 0
		}
	}
	if len(bucket) > 0 {
		d.buckets = append(d.buckets, bucket)
	}
	return d
}

func (d *ddp) rank() int { return d.g.Rank() }

// broadcastModel makes every rank's variables rank 0's.
func (d *ddp) broadcastModel() error {
	all := append(append([]*ts.Tensor{}, d.params...), d.buffers...)
	return d.wrap("broadcasting the model", d.g.Broadcast(0, all...))
}

// broadcastBuffers makes every rank's BatchNorm running statistics rank 0's.
func (d *ddp) broadcastBuffers() error {
	return d.wrap("broadcasting the BatchNorm statistics", d.g.Broadcast(0, d.buffers...))
}

// defineGrads gives every trainable variable a defined (zero) gradient, so that every rank
// reduces the same buckets even when its shard of a step is empty; the optimizer zeroes
// gradients in place, so they stay defined.
func (d *ddp) defineGrads() (err error) {
	defer torch.Recover(&err)
	if len(d.params) == 0 {
		return nil
	}
	s := torch.NewScope()
	defer s.Close()
	var total *ts.Tensor
	for _, p := range d.params {
		z := s.T(torch.MulScalar(s.T(p.MustSum(gotch.Float, false)), 0))
		if total == nil {
			total = z
		} else {
			total = s.T(total.MustAdd(z, false))
		}
	}
	return total.Backward()
}

// allreduceGrads sums every trainable variable's gradient over the ranks, bucket by
// bucket: each bucket's gradients are copied into one flat tensor (in their logical
// order, whatever their memory layout: a channels-last gradient is reshaped, a copy, where
// a contiguous one is viewed), reduced, and copied back.
func (d *ddp) allreduceGrads() (err error) {
	defer torch.Recover(&err)
	s := torch.NewScope()
	defer s.Close()
	flats := make([]*ts.Tensor, len(d.buckets))
	grads := make([][]*ts.Tensor, len(d.buckets))
	for i, b := range d.buckets {
		views := make([]ts.Tensor, len(b))
		for j, p := range b {
			g := s.T(p.MustGrad(false))
			grads[i] = append(grads[i], g)
			views[j] = *s.T(g.MustReshape([]int64{-1}, false))
		}
		flats[i] = s.T(ts.MustCat(views, 0))
	}
	if err := d.g.AllReduce(dist.Sum, flats...); err != nil {
		return d.wrap("reducing the gradients", err)
	}
	for i, gs := range grads {
		var off int64
		for _, g := range gs {
			n := int64(g.Numel())
			part := s.T(flats[i].MustNarrow(0, off, n, false))
			g.Copy_(s.T(part.MustView(g.MustSize(), false)))
			off += n
		}
	}
	return nil
}

// stepStats is what the ranks sum at every step, before the backward pass.
type stepStats struct {
	reg, cls  float64 // the global batch's losses
	positives float64 // positive priors in the global batch
	images    int     // images in the global batch
	stop      bool    // some rank asked to stop
}

// vote sums the ranks' loss sums (each rank's mean loss times its positive count),
// positive counts and image counts, and ORs their stop requests.
func (d *ddp) vote(reg, cls, pos float64, images int, stop bool) (stepStats, error) {
	flag := 0.0
	if stop {
		flag = 1
	}
	w := max(pos, 1)
	v, err := d.sum("the step's loss allreduce", reg*w, cls*w, pos, float64(images), flag)
	if err != nil {
		return stepStats{}, err
	}
	n := max(v[2], 1)
	st := stepStats{reg: v[0] / n, cls: v[1] / n, positives: v[2], images: int(v[3]), stop: v[4] > 0}
	d.stop = d.stop || st.stop
	return st, nil
}

// voteStop ORs the ranks' stop requests (one small allreduce): every rank gets the same
// answer, so all stop at the same point.
func (d *ddp) voteStop(stop bool) (bool, error) {
	flag := 0.0
	if stop {
		flag = 1
	}
	v, err := d.sum("the stop vote", flag)
	if err != nil {
		return false, err
	}
	d.stop = d.stop || v[0] > 0
	return v[0] > 0, nil
}

// sum returns the sums over the ranks of vals (float64), in one allreduce; what names it
// in errors.
func (d *ddp) sum(what string, vals ...float64) ([]float64, error) {
	t, err := torch.FromSlices([]int64{int64(len(vals))}, vals)
	if err != nil {
		return nil, err
	}
	defer t.MustDrop()
	if err := d.g.AllReduce(dist.Sum, t); err != nil {
		return nil, d.wrap(what, err)
	}
	v := make([]float64, len(vals))
	if err := torch.CopyTo(t, v); err != nil {
		return nil, err
	}
	return v, nil
}

// wrap names the data-parallel phase that failed.
func (d *ddp) wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("rank %d of %d: %s: %w", d.g.Rank(), d.g.World(), what, err)
}

// agree returns an error on every rank when err is not nil on any rank (naming the ranks
// and their errors), so that a failure of one rank's set-up stops all of them at the same
// point instead of leaving the others waiting for it.
func (d *ddp) agree(err error) error {
	msg := ""
	if err != nil {
		msg = err.Error()
		if msg == "" {
			msg = "failed"
		}
	}
	all, gerr := d.g.AllGatherBytes([]byte(msg))
	if gerr != nil {
		return errors.Join(err, gerr)
	}
	var parts []string
	for r, m := range all {
		if len(m) > 0 && r != d.rank() {
			parts = append(parts, fmt.Sprintf("rank %d: %s", r, m))
		}
	}
	if err != nil {
		return err
	}
	if len(parts) > 0 {
		return errors.New(strings.Join(parts, "; "))
	}
	return nil
}

// stepDDP is step for one rank of a data-parallel job: forward and loss on this rank's
// shard (possibly empty), the vote, backward of the loss scaled to the global batch's
// normalisation, the gradients summed over the ranks, a finiteness check (the same on
// every rank, after the sum) and the update. It returns the global batch's losses and
// image count.
func (t *trainer) stepDDP(b *loader.Batch) (reg, cls float64, images int, err error) {
	defer torch.Recover(&err)
	d := t.ddp
	opt := t.run.Optimizer
	opt.ZeroGrad()
	s := torch.NewScope()
	defer s.Close()
	var total, idle *ts.Tensor
	var lreg, lcls, pos float64
	if b.Len() == 0 && d.syncBN {
		// synchronised batch norms are collectives in both passes: a rank without samples
		// still runs them (over an empty batch, count 0), or its peers would wait for it
		size := int64(t.run.ImageSize)
		empty := s.T(ts.MustZeros([]int64{0, 3, size, size}, gotch.Float, t.run.Device))
		conf, loc, err := t.run.Model.Forward(empty, true)
		if err != nil {
			return 0, 0, 0, err
		}
		s.Ts(conf, loc)
		idle = s.T(s.T(conf.MustSum(gotch.Float, false)).MustAdd(s.T(loc.MustSum(gotch.Float, false)), false))
	}
	if b.Len() > 0 {
		images, labels, locT, err := t.onDevice(s, b)
		if err != nil {
			return 0, 0, 0, err
		}
		conf, loc, err := t.run.Model.Forward(images, true)
		if err != nil {
			return 0, 0, 0, err
		}
		s.Ts(conf, loc)
		r, c, err := t.run.Loss.Forward(conf, loc, labels, locT)
		if err != nil {
			return 0, 0, 0, err
		}
		s.Ts(r, c)
		if lreg, err = r.Float64Value([]int64{}); err != nil {
			return 0, 0, 0, err
		}
		if lcls, err = c.Float64Value([]int64{}); err != nil {
			return 0, 0, 0, err
		}
		npos := s.T(s.T(labels.MustGt(s.Int(0), false)).MustSum(gotch.Int64, false))
		pos = float64(npos.Int64Values()[0])
		total = s.T(r.MustAdd(c, false))
	}
	st, err := d.vote(lreg, lcls, pos, b.Len(), t.ctx.Err() != nil)
	if err != nil {
		return 0, 0, 0, err
	}
	if !finite(st.reg) || !finite(st.cls) {
		return st.reg, st.cls, st.images, errNonFinite
	}
	if total != nil {
		// this rank's loss sums over the global batch's positive count: the ranks'
		// gradients then add up to the gradient of the global batch's loss
		scaled := s.T(torch.MulScalar(total, max(pos, 1)/max(st.positives, 1)))
		if err := scaled.Backward(); err != nil {
			return 0, 0, 0, err
		}
	} else if idle != nil {
		if err := idle.Backward(); err != nil { // zero gradients; the batch norms' allreduces
			return 0, 0, 0, err
		}
	}
	if err := d.allreduceGrads(); err != nil {
		return 0, 0, 0, err
	}
	grads, err := t.grads(s)
	if err != nil {
		return 0, 0, 0, err
	}
	if ok, err := t.gradsFinite(s, grads); err != nil {
		return 0, 0, 0, err
	} else if !ok {
		return st.reg, st.cls, st.images, errNonFinite
	}
	if err := t.clipGrads(s, grads); err != nil { // the summed gradients: the same on every rank
		return 0, 0, 0, err
	}
	return st.reg, st.cls, st.images, opt.Step()
}

// trainStep runs one step, one-process or data-parallel; images is the number of images
// the step trained on (all ranks').
func (t *trainer) trainStep(b *loader.Batch) (reg, cls float64, images int, err error) {
	if t.ddp != nil {
		return t.stepDDP(b)
	}
	reg, cls, err = t.step(b)
	return reg, cls, b.Len(), err
}

// stopRequested reports whether the run should stop before its next step: Ctrl-C here,
// or, in a data-parallel job, on any rank at the last step's vote (the same answer on
// every rank).
func (t *trainer) stopRequested() bool {
	if t.ddp != nil {
		return t.ddp.stop
	}
	return t.ctx.Err() != nil
}

// worldSize is the number of ranks of the job (1 for one process).
func (t *trainer) worldSize() int {
	if t.ddp == nil {
		return 1
	}
	return t.ddp.g.World()
}

// writes reports whether this process writes the run folder (rank 0, or the only process).
func (t *trainer) writes() bool { return t.ddp == nil || t.ddp.rank() == 0 }

// shareCheckpoint gives every rank rank 0's checkpoint: rank 0 sends the file's bytes (or
// nothing for a fresh run), the others load them from a temporary file. No shared file
// system is needed.
func (t *trainer) shareCheckpoint(ck *checkpoint) (*checkpoint, error) {
	d := t.ddp
	var data []byte
	var err error
	if d.rank() == 0 && ck != nil {
		data, err = os.ReadFile(ck.Path)
	}
	if err := d.agree(err); err != nil {
		return nil, err
	}
	got, err := d.g.BroadcastBytes(0, data)
	if err != nil {
		return nil, d.wrap("receiving the checkpoint", err)
	}
	if d.rank() == 0 || len(got) == 0 {
		return ck, nil
	}
	f, err := os.CreateTemp("", "ssdrunner-resume-*.pt")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(got); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	rck, err := loadCheckpoint(f.Name())
	if err != nil {
		return nil, fmt.Errorf("rank %d: the checkpoint rank 0 sent: %w", d.rank(), err)
	}
	rck.Path = "rank 0's " + filepath.Base(f.Name())
	return rck, nil
}

// resumeStep maps a checkpoint's position in its epoch (step batches of the job that
// wrote it, with world ranks) to this job's steps: the samples done are the same, so the
// step is step×world/World, rounded down (a job with another world size re-trains up to
// one global batch).
func resumeStep(step, world, now int) (int, bool) {
	world = max(world, 1)
	if world == now || step == 0 {
		return step, true
	}
	done := step * world
	return done / now, done%now == 0
}
