// Package train is `runner apply`: it trains a built run (runner/build), validates it
// every N epochs, and keeps a run folder — the resolved experiment, metrics as files,
// charts derived from them, checkpoints that resume a run exactly, and a summary.
//
// The learning rate of every group is a pure function of progress (the scheduler), the
// loader's batches are a pure function of (seed, epoch, index), and a checkpoint holds the
// model, the optimizer's state, libtorch's random generator, the position in the epoch
// and the run's history: a resumed run computes the same losses as an uninterrupted one.
package train

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/components/model"
	"github.com/ssdrunner/ssdrunner/components/scheduler"
	"github.com/ssdrunner/ssdrunner/internal/dist"
	"github.com/ssdrunner/ssdrunner/internal/fsutil"
	"github.com/ssdrunner/ssdrunner/internal/torch"
	"github.com/ssdrunner/ssdrunner/runner/build"
	"github.com/ssdrunner/ssdrunner/runner/config"
	"github.com/ssdrunner/ssdrunner/runner/loader"
)

// ErrInterrupted is returned when a run stopped on request (Ctrl-C, SIGTERM) after
// writing a checkpoint it can resume from.
var ErrInterrupted = errors.New("interrupted")

// Options configure Apply.
type Options struct {
	// Log receives the run's log lines (the run folder's log.jsonl gets them too).
	Log zerolog.Logger
	// LogWriter is where Log writes and LogLevel its level: Apply adds the run folder's
	// JSON log beside it.
	LogWriter io.Writer
	LogLevel  zerolog.Level
	// Console receives progress, AP tables and the summary (stdout).
	Console io.Writer
	// Terminal draws a progress bar on Console instead of a log line every log_every steps.
	Terminal bool
	// RunName names the run folder (default: a UTC timestamp, which sorts by start time).
	RunName string
	// Resume continues a run: "auto" (the newest readable checkpoint of the experiment's
	// newest run, or a fresh run when there is none), a run folder, or a checkpoint file.
	Resume string
	// Force resumes even when the experiment differs from the checkpoint's.
	Force bool
	// Now gives the time (tests may fix it); nil is time.Now.
	Now func() time.Time
	// Dir, when set, is the folder of a new run instead of <output.dir>/<name>/<run id>
	// (a sweep gives each trial its own); it must not hold a run yet.
	Dir string
	// OnValidation, when set, is called after every validation has been recorded, with
	// the run's history so far; stop ends the run there (a sweep's early stopping): a
	// checkpoint is written and the summary's status is "stopped", with reason.
	OnValidation func(v Validation, h *History) (stop bool, reason string)
	// OnStep, when set, is called after every optimizer step with the epoch (1-based), the
	// step within it and the global step (progress displays, sweeps, tests).
	OnStep func(epoch, step, global int)
	// OnValidationBatch, when set, is called after every batch of a validation with the
	// epoch it follows (1-based) and the number of batches done.
	OnValidationBatch func(epoch, batches int)
	// Dist, when it has more than one rank, makes this process one rank of a data-parallel
	// job (see ddp.go); only rank 0 writes the run folder.
	Dist *dist.Group
}

// Summary is what a finished (or interrupted) run reports; summary.json holds it.
type Summary struct {
	Experiment   string       `json:"experiment"`
	RunDir       string       `json:"run_dir"`
	Status       string       `json:"status"` // "finished", "interrupted", "failed", "stopped" (OnValidation)
	Error        string       `json:"error,omitempty"`
	StopReason   string       `json:"stop_reason,omitempty"`
	Epochs       int          `json:"epochs"`
	EpochsDone   int          `json:"epochs_done"`
	Steps        int          `json:"steps"`
	Best         *Best        `json:"best,omitempty"`
	BestMAP      *Validation  `json:"best_map,omitempty"`
	Last         *Validation  `json:"last,omitempty"`
	WallSeconds  float64      `json:"wall_seconds"`
	ImagesPerSec float64      `json:"images_per_s"`
	Images       int64        `json:"images"`
	Skipped      []string     `json:"skipped,omitempty"`
	NonFinite    int          `json:"nonfinite_skipped,omitempty"`
	Files        SummaryFiles `json:"files"`
}

// SummaryFiles points at the run folder's main files.
type SummaryFiles struct {
	Metrics     string `json:"metrics"`
	Results     string `json:"results"`
	Charts      string `json:"charts"`
	Checkpoints string `json:"checkpoints"`
	Last        string `json:"last_checkpoint,omitempty"`
	BestCkpt    string `json:"best_checkpoint,omitempty"`
}

// trainer is one session of a run.
type trainer struct {
	ctx  context.Context
	res  *config.Result
	e    *config.Experiment
	run  *build.Run
	opts Options
	log  zerolog.Logger
	now  func() time.Time

	dir     string // the run folder
	files   *runFiles
	train   *loader.Loader
	val     *loader.Loader
	steps   int // batches per epoch
	hist    History
	global  int // optimizer steps so far
	skipped map[string]bool
	vars    map[string]*ts.Tensor // the model's variables by name (for checkpoints)
	started time.Time
	prior   float64 // TrainSeconds of earlier sessions
	console *console
	ddp     *ddp    // nil for a one-process run
	clip    float64 // training.clip_grad_norm (0: none)
	// ahead is the next epoch's iterator, started during the last step of an epoch so
	// that its first batches are ready when it begins (nil when none is).
	ahead *aheadIter
}

// aheadIter is an iterator started before its epoch.
type aheadIter struct {
	epoch int
	it    *loader.Iter
}

// closeAhead stops the iterator started ahead, if any.
func (t *trainer) closeAhead() {
	if t.ahead != nil {
		t.ahead.it.Close()
		t.ahead = nil
	}
}

// Apply trains run as its experiment says and returns the summary. On Ctrl-C (ctx
// cancelled) it finishes the step in progress, writes a checkpoint and returns
// ErrInterrupted (wrapped with how to resume).
func Apply(ctx context.Context, res *config.Result, run *build.Run, opts Options) (*Summary, error) {
	if run.Optimizer == nil {
		return nil, errors.New("apply: the run was built without an optimizer")
	}
	// libtorch's thread count, OpenMP team and grad mode belong to the OS thread: the whole
	// run stays on this one, with the experiment's thread count.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	torch.SetThreads(res.Experiment.Training.Threads)
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Console == nil {
		opts.Console = io.Discard
	}
	if opts.LogWriter == nil {
		opts.LogWriter = io.Discard
	}
	t := &trainer{ctx: ctx, res: res, e: &res.Experiment, run: run, opts: opts, log: opts.Log, now: opts.Now,
		skipped: map[string]bool{}}
	t.vars = modelVars(run.Model)
	t.clip = t.e.Training.ClipGradNorm
	if opts.Dist != nil && opts.Dist.World() > 1 {
		t.ddp = newDDP(opts.Dist, t.vars)
	}
	if t.e.Training.SyncBN {
		switch {
		case t.ddp == nil:
			if t.writes() {
				t.log.Warn().Msg("training.sync_batchnorm has no effect in a one-process run: batch norms normalise over its whole batch already")
			}
		case run.Model.SyncBatchNorm(opts.Dist) == 0:
			if t.writes() {
				t.log.Warn().Msg("training.sync_batchnorm: the model has no batch norm in training mode (none, or all frozen): nothing to synchronise")
			}
		default:
			t.ddp.syncBN = true
			defer run.Model.SyncBatchNorm(nil)
		}
	}

	// rank 0 (or the only process) finds the checkpoint and the run folder; in a
	// data-parallel job the others get the checkpoint from it
	var ck *checkpoint
	var dir string
	var err error
	if t.writes() {
		ck, dir, err = t.resumePoint()
	}
	if t.ddp != nil {
		if err = t.ddp.agree(err); err == nil {
			ck, err = t.shareCheckpoint(ck)
		}
	}
	if err != nil {
		return nil, err
	}
	if ck != nil {
		defer ck.Close()
	}
	if dir == "" && t.writes() {
		if dir, err = t.newRunDir(); err != nil {
			err = fmt.Errorf("the run folder: %w", err)
		}
	}
	t.dir = dir
	startEpoch, startStep, valPending := 0, 0, false
	if ck != nil && err == nil {
		if err = t.restore(ck); err == nil {
			var exact bool
			startEpoch = ck.Meta.Epoch
			valPending = ck.Meta.ValidationPending && startEpoch > 0 && ck.Meta.Step == 0
			if startStep, exact = resumeStep(ck.Meta.Step, ck.Meta.World, t.worldSize()); !exact {
				t.log.Warn().Int("checkpoint_world", max(ck.Meta.World, 1)).Int("world", t.worldSize()).
					Msg("resuming mid-epoch with another number of ranks: the last partial global batch is trained again")
			}
		}
	}
	if err == nil && t.writes() {
		t.files, err = openRunFiles(dir, t.e, ck)
	} else if err == nil {
		t.files = &runFiles{discard: true}
	}
	if t.ddp != nil {
		err = t.ddp.agree(err)
	}
	if err != nil {
		return nil, err
	}
	defer t.files.Close()
	if t.writes() {
		t.log = zerolog.New(zerolog.MultiLevelWriter(opts.LogWriter, t.files.log)).Level(opts.LogLevel).With().Timestamp().Logger()
	}
	t.console = newConsole(opts.Console, opts.Terminal)

	err = t.buildLoaders()
	if t.ddp != nil {
		if err = t.ddp.agree(err); err == nil {
			err = t.ddp.broadcastModel()
		}
	}
	if err == nil {
		// after every load (a restore may replace the variables' data) and the broadcast,
		// before the gradients are first made (they take their variable's layout then)
		err = t.setChannelsLast()
		if t.ddp != nil {
			if err = t.ddp.agree(err); err == nil {
				err = t.ddp.agree(t.ddp.defineGrads())
			}
		}
	}
	if err != nil {
		return nil, err
	}
	if ck != nil {
		t.log.Info().Str("checkpoint", ck.Path).Int("epoch", startEpoch+1).Int("step", startStep).Msg("resuming")
	} else if t.writes() {
		t.log.Info().Str("run_dir", dir).Msg("new run")
		if err := t.writeBatchPicture(); err != nil {
			t.log.Warn().Err(err).Msg("cannot draw the first training batch")
		}
	}

	t.started = t.now()
	sum, runErr := t.loop(startEpoch, startStep, valPending)
	if sum == nil {
		sum = t.summary("failed", runErr)
	}
	if err := t.files.writeSummary(sum); err != nil && runErr == nil {
		runErr = err
	}
	t.writeReport()
	return sum, runErr
}

// setChannelsLast lays the model out channels-last when training.channels_last says so.
func (t *trainer) setChannelsLast() error {
	if !t.e.Training.ChannelsLast {
		return nil
	}
	if err := t.run.Model.SetChannelsLast(); err != nil {
		return fmt.Errorf("training.channels_last: %w", err)
	}
	return nil
}

// loop trains from batch startStep of epoch startEpoch to the end, after the validation
// of the epoch before when valPending.
func (t *trainer) loop(startEpoch, startStep int, valPending bool) (*Summary, error) {
	defer t.closeAhead()
	epochs := t.e.Training.Epochs
	if valPending {
		// resumed from a run interrupted in the validation after epoch startEpoch (1-based)
		if sum, err := t.endEpoch(startEpoch - 1); sum != nil || err != nil {
			return sum, err
		}
	}
	for epoch := startEpoch; epoch < epochs; epoch++ {
		skip := 0
		if epoch == startEpoch {
			skip = startStep
		}
		rec, stoppedAt, err := t.trainEpoch(epoch, skip)
		if errors.Is(err, ErrInterrupted) {
			return t.interrupted(epoch, stoppedAt, false, fmt.Sprintf("at epoch %d, step %d/%d", epoch+1, stoppedAt, t.steps))
		}
		if err != nil {
			return nil, err
		}
		t.hist.Epochs = append(t.hist.Epochs, rec)
		if err := t.files.epoch(rec, &t.hist); err != nil {
			return nil, err
		}
		if sum, err := t.endEpoch(epoch); sum != nil || err != nil {
			return sum, err
		}
	}
	sum := t.summary("finished", nil)
	t.console.summary(sum, t.run.Classes)
	return sum, nil
}

// endEpoch runs what follows the training of epoch (0-based): the validation when due,
// the early-stopping rule, the periodic checkpoint. It returns a summary when the run
// ends there (stopped early, or interrupted during the validation).
func (t *trainer) endEpoch(epoch int) (*Summary, error) {
	stop, reason := false, ""
	if t.validationDue(epoch) {
		v, err := t.validate(epoch + 1)
		if errors.Is(err, ErrInterrupted) {
			// the epoch's training is kept at the start of the next one; the resume runs
			// this validation first, then goes on exactly as the uninterrupted run (the
			// validation draws no random numbers)
			return t.interrupted(epoch+1, 0, true, fmt.Sprintf("in the validation after epoch %d (the epoch's training is saved, its validation runs first on resume)", epoch+1))
		}
		if err != nil {
			return nil, err
		}
		if err := t.recordValidation(v); err != nil {
			return nil, err
		}
		if t.opts.OnValidation != nil && epoch+1 < t.e.Training.Epochs {
			stop, reason = t.opts.OnValidation(v, &t.hist)
		}
	}
	if t.checkpointDue(epoch) || stop {
		if err := t.periodicCheckpoint(epoch + 1); err != nil {
			return nil, err
		}
	}
	if stop {
		t.log.Info().Int("epoch", epoch+1).Str("reason", reason).Msg("run stopped early")
		sum := t.summary("stopped", nil)
		sum.StopReason = reason
		t.console.summary(sum, t.run.Classes)
		return sum, nil
	}
	return nil, nil
}

// interrupted ends a run stopped (Ctrl-C, SIGTERM) at batch step of epoch (0-based):
// rank 0 writes last.pt there, valPending saying that the validation after the epoch
// before has not run; the error says where (where) and how to resume.
func (t *trainer) interrupted(epoch, step int, valPending bool, where string) (*Summary, error) {
	if !t.writes() {
		return t.summary("interrupted", nil), fmt.Errorf("%w %s with the job (rank 0 wrote the checkpoint)", ErrInterrupted, where)
	}
	path := filepath.Join(t.files.ckptDir, "last.pt")
	if err := t.saveCheckpoint(path, epoch, step, "interrupt", valPending); err != nil {
		return nil, fmt.Errorf("interrupted, and the checkpoint could not be written: %w", err)
	}
	t.console.line("")
	return t.summary("interrupted", nil), fmt.Errorf("%w %s: checkpoint %s; continue with: runner apply %s --resume %s",
		ErrInterrupted, where, path, t.res.Path, t.dir)
}

// trainEpoch trains one epoch from batch skip on. It returns the epoch's record, or on
// interruption ErrInterrupted and the number of the epoch's batches trained.
func (t *trainer) trainEpoch(epoch, skip int) (EpochRecord, int, error) {
	rec := EpochRecord{Epoch: epoch + 1, LR: map[string]float64{}}
	for _, g := range t.run.OptimizerGroups {
		rec.LR[g.Name] = t.run.Schedule.LR(g.LR, scheduler.Progress{Epoch: epoch, StepsPerEpoch: t.steps})
	}
	start := t.now()
	var sumReg, sumCls, priorSecs float64
	if p := t.hist.Partial; p != nil && p.Epoch == epoch+1 && skip > 0 {
		// the part of this epoch trained before an interruption
		rec.Steps, rec.Images, sumReg, sumCls, priorSecs = p.Steps, p.Images, p.Regression, p.Classification, p.Seconds
	}
	t.hist.Partial = nil
	defer func() {
		if rec.Steps > 0 && rec.Seconds == 0 { // interrupted: keep the sums for the resume
			t.hist.Partial = &PartialEpoch{Epoch: epoch + 1, Steps: rec.Steps, Images: rec.Images, Regression: sumReg,
				Classification: sumCls, Seconds: priorSecs + t.now().Sub(start).Seconds(), LR: rec.LR}
		}
	}()
	// The loader's own context: stopping the run (ctx) must not abort the batch in flight.
	// An epoch from its start may have been started ahead, during the last step of the
	// one before (the same batches: an epoch's are a function of its number alone).
	var it *loader.Iter
	if a := t.ahead; a != nil && a.epoch == epoch && skip == 0 {
		it, t.ahead = a.it, nil
	} else {
		t.closeAhead()
		it = t.train.EpochFrom(context.Background(), epoch, skip)
	}
	defer it.Close()
	step := skip
	bar := t.console.startEpoch(epoch+1, t.e.Training.Epochs, t.steps, skip)
	logEvery := max(t.e.Training.LogEvery, 1)
	var winImages int
	winStart := start
	for {
		if t.stopRequested() {
			return rec, step, ErrInterrupted
		}
		b, err := it.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return rec, step, fmt.Errorf("epoch %d: %w", epoch+1, err)
		}
		t.noteSkipped()
		if step+1 == t.steps && epoch+1 < t.e.Training.Epochs && t.ahead == nil {
			// the epoch's last batch: let the next epoch's workers start beside its step
			t.ahead = &aheadIter{epoch: epoch + 1, it: t.train.EpochFrom(context.Background(), epoch+1, 0)}
		}
		lrs := t.setLR(epoch, step)
		reg, cls, n, err := t.trainStep(b)
		ids := b.IDs
		b.Close()
		if errors.Is(err, errNonFinite) {
			if t.e.Training.OnNonFinite != "skip" || t.hist.NonFiniteSkipped >= t.e.Training.MaxNonFinite {
				return rec, step, fmt.Errorf("epoch %d, step %d: %w (images %s); the last good checkpoint is in %s%s",
					epoch+1, step+1, err, strings.Join(ids, ", "), t.files.ckptDir, nonFiniteHint(t.e))
			}
			t.hist.NonFiniteSkipped++
			t.log.Warn().Int("epoch", epoch+1).Int("step", step+1).Strs("images", ids).Msg("non-finite loss or gradient: batch skipped")
			step++
			continue
		}
		if err != nil {
			return rec, step, fmt.Errorf("epoch %d, step %d: %w", epoch+1, step+1, err)
		}
		step++
		t.global++
		rec.Steps++
		rec.Images += n
		t.hist.Images += int64(n)
		winImages += n
		sumReg += reg
		sumCls += cls
		elapsed := priorSecs + t.now().Sub(start).Seconds()
		ips := float64(rec.Images) / math.Max(elapsed, 1e-9)
		bar.update(step, reg+cls, ips, lrs)
		if t.opts.OnStep != nil {
			t.opts.OnStep(epoch+1, step, t.global)
		}
		if step%logEvery == 0 || step == t.steps {
			wips := float64(winImages) / math.Max(t.now().Sub(winStart).Seconds(), 1e-9)
			winImages, winStart = 0, t.now()
			if err := t.files.stepLine(epoch+1, step, t.global, lrs, reg, cls, wips); err != nil {
				return rec, step, err
			}
			if !t.opts.Terminal {
				ev := t.log.Info().Int("epoch", epoch+1).Str("step", fmt.Sprintf("%d/%d", step, t.steps)).
					Float64("loss", round4(reg+cls)).Float64("regression", round4(reg)).Float64("classification", round4(cls)).
					Float64("images_per_s", round1(wips))
				for g, lr := range lrs {
					ev = ev.Float64("lr_"+g, lr)
				}
				ev.Msg("train")
			}
		}
	}
	bar.done()
	rec.Seconds = priorSecs + t.now().Sub(start).Seconds()
	if rec.Steps > 0 {
		rec.Regression = sumReg / float64(rec.Steps)
		rec.Classification = sumCls / float64(rec.Steps)
		rec.Loss = rec.Regression + rec.Classification
	}
	rec.ImagesPerSec = float64(rec.Images) / math.Max(rec.Seconds, 1e-9)
	t.log.Info().Int("epoch", epoch+1).Float64("loss", round4(rec.Loss)).Float64("regression", round4(rec.Regression)).
		Float64("classification", round4(rec.Classification)).Float64("images_per_s", round1(rec.ImagesPerSec)).
		Float64("seconds", round1(rec.Seconds)).Msg("epoch done")
	return rec, step, nil
}

// setLR gives every optimizer group its learning rate at (epoch, step) and returns them
// by group name.
func (t *trainer) setLR(epoch, step int) map[string]float64 {
	out := make(map[string]float64, len(t.run.OptimizerGroups))
	p := scheduler.Progress{Epoch: epoch, Step: step, StepsPerEpoch: t.steps}
	for i, g := range t.run.OptimizerGroups {
		lr := t.run.Schedule.LR(g.LR, p)
		t.run.Optimizer.SetLR(i, lr)
		out[g.Name] = lr
	}
	return out
}

var errNonFinite = errors.New("non-finite loss or gradient")

// step runs one optimizer step on a batch: the gradients cleared (set to none: the
// backward pass then hands them over as computed, with no zeroing and no accumulation
// pass), forward in training mode, MultiBox loss, backward, a finiteness check of the
// loss and the gradients, and the update. It returns
// the batch's regression and classification losses.
func (t *trainer) step(b *loader.Batch) (reg, cls float64, err error) {
	defer torch.Recover(&err)
	opt := t.run.Optimizer
	opt.ClearGrad()
	s := torch.NewScope()
	defer s.Close()
	images, labels, locT, err := t.onDevice(s, b)
	if err != nil {
		return 0, 0, err
	}
	conf, loc, err := t.run.Model.Forward(images, true)
	if err != nil {
		return 0, 0, err
	}
	s.Ts(conf, loc)
	r, c, err := t.run.Loss.Forward(conf, loc, labels, locT)
	if err != nil {
		return 0, 0, err
	}
	s.Ts(r, c)
	if reg, err = r.Float64Value([]int64{}); err != nil {
		return 0, 0, err
	}
	if cls, err = c.Float64Value([]int64{}); err != nil {
		return 0, 0, err
	}
	if !finite(reg) || !finite(cls) {
		return reg, cls, errNonFinite
	}
	total := s.T(r.MustAdd(c, false))
	if err := total.Backward(); err != nil {
		return 0, 0, err
	}
	grads, err := t.grads(s)
	if err != nil {
		return 0, 0, err
	}
	if ok, err := t.gradsFinite(s, grads); err != nil {
		return 0, 0, err
	} else if !ok {
		return reg, cls, errNonFinite
	}
	if err := t.clipGrads(s, grads); err != nil {
		return 0, 0, err
	}
	return reg, cls, opt.Step()
}

// clipGrads scales the gradients (t.grads') by t.clip / (total + 1e-6) when that is
// below 1, total being the L2 norm of all of them together, as PyTorch's
// clip_grad_norm_(parameters, t.clip) does (the norm of the per-gradient norms, one
// read-back); nothing when t.clip is 0. It returns after the gradients are scaled in
// place.
func (t *trainer) clipGrads(s *torch.Scope, grads []*ts.Tensor) error {
	if t.clip <= 0 || len(grads) == 0 {
		return nil
	}
	norms := make([]ts.Tensor, len(grads))
	for i, g := range grads {
		norms[i] = *s.T(g.MustNorm(false))
	}
	stacked := s.T(ts.MustStack(norms, 0))
	total, err := s.T(stacked.MustNorm(false)).Float64Value([]int64{})
	if err != nil {
		return err
	}
	coef := t.clip / (total + 1e-6)
	if coef >= 1 {
		return nil
	}
	scale := ts.FloatScalar(coef)
	defer scale.MustDrop()
	for _, g := range grads {
		if err := torch.InPlace(g, func(a *ts.Tensor) error { return a.MulScalar_(scale) }); err != nil {
			return err
		}
	}
	return nil
}

// grads returns the gradients the trainable parameters have, in the order of the
// parameters' names (a reduction over them, such as clipGrads' norm, then sums in the same
// order at every step and in every process: the run stays reproducible and resumable bit
// for bit), their handles registered in s.
func (t *trainer) grads(s *torch.Scope) ([]*ts.Tensor, error) {
	grads := make([]*ts.Tensor, 0, len(t.vars))
	for _, name := range slices.Sorted(maps.Keys(t.vars)) {
		g, err := t.vars[name].Grad(false)
		if err != nil {
			return nil, err
		}
		s.T(g)
		if def, err := g.Defined(); err != nil || !def {
			continue
		}
		grads = append(grads, g)
	}
	return grads, nil
}

// gradsFinite checks the gradients (t.grads') for NaN and infinity with one
// read-back in the usual case: each gradient's sum (one reduction, in its own dtype),
// stacked into one vector whose values are checked here. A NaN or an infinity makes its
// sum non-finite; a sum can also overflow on huge but finite values, so a non-finite sum
// is confirmed by each gradient's extremes (aminmax propagates NaN and keeps infinities,
// and cannot overflow). A step used to read one float64 sum per parameter: 256 waits for
// a result and, with the casts, 4,000 more libtorch ops on mb2-ssd-lite (refbench -ops).
func (t *trainer) gradsFinite(s *torch.Scope, grads []*ts.Tensor) (bool, error) {
	reduce := func(fn func(g *ts.Tensor) ([]*ts.Tensor, error)) (bool, error) {
		var parts []ts.Tensor
		for _, g := range grads {
			r, err := fn(g)
			if err != nil {
				return false, err
			}
			for _, x := range r {
				parts = append(parts, *s.T(x))
			}
		}
		if len(parts) == 0 {
			return true, nil
		}
		all, err := ts.Stack(parts, 0)
		if err != nil {
			return false, err
		}
		s.T(all)
		if all.DType() != gotch.Double {
			all = s.T(all.MustTotype(gotch.Double, false)) // exact for float32 and half values
		}
		vals := make([]float64, len(parts))
		if err := all.CopyData(vals, uint(len(vals))); err != nil {
			return false, err
		}
		for _, v := range vals {
			if !finite(v) {
				return false, nil
			}
		}
		return true, nil
	}
	ok, err := reduce(func(g *ts.Tensor) ([]*ts.Tensor, error) {
		sum, err := g.Sum(g.DType(), false)
		return []*ts.Tensor{sum}, err
	})
	if ok || err != nil {
		return ok, err
	}
	return reduce(func(g *ts.Tensor) ([]*ts.Tensor, error) {
		lo, hi, err := g.Aminmax(nil, false, false)
		return []*ts.Tensor{lo, hi}, err
	})
}

// onDevice returns the batch's tensors on the run's device (the batch's own on the CPU).
func (t *trainer) onDevice(s *torch.Scope, b *loader.Batch) (images, labels, loc *ts.Tensor, err error) {
	if t.run.Device == gotch.CPU {
		return b.Images, b.Labels, b.Loc, nil
	}
	images = s.T(b.Images.MustTo(t.run.Device, false))
	labels = s.T(b.Labels.MustTo(t.run.Device, false))
	loc = s.T(b.Loc.MustTo(t.run.Device, false))
	return images, labels, loc, nil
}

// noteSkipped records the bad samples the loaders skipped so far.
func (t *trainer) noteSkipped() {
	for _, l := range []*loader.Loader{t.train, t.val} {
		if l == nil {
			continue
		}
		for _, id := range l.Stats().SkippedIDs {
			if !t.skipped[id] {
				t.skipped[id] = true
				t.hist.Skipped = append(t.hist.Skipped, id)
			}
		}
	}
}

func (t *trainer) validationDue(epoch int) bool {
	if t.run.Validation == nil {
		return false
	}
	n := t.e.Training.ValidateEvery
	last := epoch == t.e.Training.Epochs-1
	return last || (n > 0 && (epoch+1)%n == 0)
}

func (t *trainer) checkpointDue(epoch int) bool {
	last := epoch == t.e.Training.Epochs-1
	if last {
		return true
	}
	if every := t.e.Training.Checkpoint.Every; every > 0 {
		return (epoch+1)%every == 0
	}
	return t.validationDue(epoch)
}

// recordValidation adds a validation to the history, files and charts, prints its table,
// and keeps the best checkpoint.
func (t *trainer) recordValidation(v Validation) error {
	metric := t.e.Training.Checkpoint.Metric
	better := t.hist.improves(v, metric)
	t.hist.Validations = append(t.hist.Validations, v)
	if better {
		val, _ := score(v, metric)
		t.hist.Best = &Best{Epoch: v.Epoch, Metric: metric, Value: val}
	}
	if err := t.files.validation(v); err != nil {
		return err
	}
	if err := t.files.results(&t.hist); err != nil {
		return err
	}
	t.writeReport() // the report and every chart (runner/report), from the files just written
	t.console.validation(v, t.hist.Best)
	t.log.Info().Int("epoch", v.Epoch).Float64("val_loss", round4(v.Loss)).Str("metric", v.Metric).
		Float64("map", round4(v.MAP)).Bool("best", better).Msg("validation")
	if better && t.e.Training.Checkpoint.KeepBest {
		return t.saveCheckpoint(filepath.Join(t.files.ckptDir, "best.pt"), v.Epoch, 0, "best", false)
	}
	return nil
}

// periodicCheckpoint writes epoch-NNNN.pt and last.pt after epoch (1-based) and removes
// periodic checkpoints beyond keep_last.
func (t *trainer) periodicCheckpoint(epoch int) error {
	if !t.writes() {
		return nil
	}
	path := filepath.Join(t.files.ckptDir, fmt.Sprintf("epoch-%04d.pt", epoch))
	if err := t.saveCheckpoint(path, epoch, 0, "epoch", false); err != nil {
		return err
	}
	if err := linkAtomic(path, filepath.Join(t.files.ckptDir, "last.pt")); err != nil {
		return err
	}
	if keep := t.e.Training.Checkpoint.KeepLast; keep > 0 {
		old, _ := filepath.Glob(filepath.Join(t.files.ckptDir, "epoch-*.pt"))
		slices.Sort(old)
		for len(old) > keep {
			if err := os.Remove(old[0]); err != nil {
				return err
			}
			old = old[1:]
		}
	}
	return nil
}

// saveCheckpoint writes a checkpoint of the run at batch step of epoch (0-based; step 0
// of epoch e is the end of epoch e-1).
func (t *trainer) saveCheckpoint(path string, epoch, step int, reason string, valPending bool) error {
	if !t.writes() {
		return nil
	}
	opt := t.run.Optimizer.State()
	defer func() {
		for _, v := range opt {
			v.MustDrop()
		}
	}()
	t.hist.TrainSeconds = t.prior + t.now().Sub(t.started).Seconds()
	meta := Meta{Epoch: epoch, Step: step, GlobalStep: t.global, Experiment: t.e.Resolved(), Classes: t.run.Classes,
		History: t.hist, Reason: reason, World: t.worldSize(), ValidationPending: valPending}
	if err := saveCheckpoint(path, t.vars, opt, meta); err != nil {
		return err
	}
	t.log.Debug().Str("path", path).Str("reason", reason).Msg("checkpoint written")
	return nil
}

// restore loads a checkpoint into the run: weights, optimizer state, random generator,
// history and position.
func (t *trainer) restore(ck *checkpoint) error {
	rep, err := model.LoadStateDict(t.run.Model.VarStore(), ck.Model, model.LoadOptions{})
	if err != nil {
		return fmt.Errorf("resume from %s: %w", ck.Path, err)
	}
	if err := rep.Err(); err != nil {
		return fmt.Errorf("resume from %s: %w", ck.Path, err)
	}
	if err := t.run.Optimizer.LoadState(ck.Optim); err != nil {
		return fmt.Errorf("resume from %s: optimizer state: %w", ck.Path, err)
	}
	if ck.RNG != nil {
		if err := torch.SetRNGState(ck.RNG); err != nil {
			return fmt.Errorf("resume from %s: %w", ck.Path, err)
		}
	}
	t.hist = ck.Meta.History
	// an interrupted epoch's record is rebuilt when it finishes
	t.hist.upTo(ck.Meta.Epoch)
	t.global = ck.Meta.GlobalStep
	t.prior = ck.Meta.History.TrainSeconds
	for _, id := range t.hist.Skipped {
		t.skipped[id] = true
	}
	return nil
}

func (t *trainer) buildLoaders() error {
	d := t.e.Data
	cfg := loader.Config{BatchSize: d.BatchSize, Workers: d.Workers, Prefetch: max(d.Prefetch, 1), Shuffle: d.Shuffle,
		Seed: t.e.Training.Seed, SkipBad: d.OnBadSample == "skip", ImageSize: t.run.ImageSize}
	if t.ddp != nil {
		cfg.Shard = loader.Shard{Rank: t.ddp.rank(), World: t.worldSize()}
	}
	var err error
	if t.train, err = loader.New(t.run.Train, t.run.TrainTransform, t.run.Matcher, cfg, t.log); err != nil {
		return fmt.Errorf("data.train: %w", err)
	}
	t.steps = t.train.Len()
	if t.run.Validation != nil {
		vcfg := cfg
		vcfg.Shuffle = false
		if t.val, err = loader.New(t.run.Validation, t.run.ValTransform, t.run.Matcher, vcfg, t.log); err != nil {
			return fmt.Errorf("data.validation: %w", err)
		}
	}
	return nil
}

// summary describes the run so far.
func (t *trainer) summary(status string, err error) *Summary {
	t.noteSkipped()
	wall := t.prior
	if !t.started.IsZero() {
		wall += t.now().Sub(t.started).Seconds()
	}
	s := &Summary{Experiment: t.e.Name, RunDir: t.dir, Status: status, Epochs: t.e.Training.Epochs,
		EpochsDone: len(t.hist.Epochs), Steps: t.global, Best: t.hist.Best, Last: t.hist.lastValidation(),
		WallSeconds: wall, Images: t.hist.Images, Skipped: t.hist.Skipped, NonFinite: t.hist.NonFiniteSkipped}
	var trainSecs float64
	for _, e := range t.hist.Epochs {
		trainSecs += e.Seconds
	}
	if trainSecs > 0 {
		s.ImagesPerSec = float64(t.hist.Images) / trainSecs
	}
	for i := range t.hist.Validations {
		v := &t.hist.Validations[i]
		if s.BestMAP == nil || v.MAP > s.BestMAP.MAP {
			s.BestMAP = v
		}
	}
	if err != nil {
		s.Error = err.Error()
	}
	if t.files != nil && !t.files.discard {
		s.Files = SummaryFiles{Metrics: t.files.metricsPath, Results: t.files.resultsPath, Charts: t.files.chartsDir,
			Checkpoints: t.files.ckptDir}
		if p := filepath.Join(t.files.ckptDir, "last.pt"); exists(p) {
			s.Files.Last = p
		}
		if p := filepath.Join(t.files.ckptDir, "best.pt"); exists(p) {
			s.Files.BestCkpt = p
		}
	}
	return s
}

// modelVars returns the model's variables by name, as tensors sharing the VarStore's.
func modelVars(m *model.SSD) map[string]*ts.Tensor {
	vars := m.VarStore().Variables()
	out := make(map[string]*ts.Tensor, len(vars))
	for name, v := range vars {
		out[name] = &v
	}
	return out
}

func nonFiniteHint(e *config.Experiment) string {
	if e.Training.OnNonFinite == "skip" {
		return fmt.Sprintf(" (more than training.max_nonfinite = %d batches were skipped)", e.Training.MaxNonFinite)
	}
	return "; lower the learning rate, or set training.on_nonfinite = \"skip\""
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

func round4(v float64) float64 { return math.Round(v*1e4) / 1e4 }
func round1(v float64) float64 { return math.Round(v*10) / 10 }

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// linkAtomic makes dst another name of src's file, replacing dst atomically.
func linkAtomic(src, dst string) error {
	tmp := dst + ".tmp-link"
	os.Remove(tmp)
	if err := os.Link(src, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, dst); err != nil {
		os.Remove(tmp)
		return err
	}
	return fsutil.SyncDir(filepath.Dir(dst))
}
