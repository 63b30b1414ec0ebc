package train

import (
	"context"
	"fmt"
	"io"

	"github.com/sugarme/gotch"

	"github.com/ssdrunner/ssdrunner/components/metric"
	"github.com/ssdrunner/ssdrunner/internal/torch"
	"github.com/ssdrunner/ssdrunner/runner/eval"
	"github.com/ssdrunner/ssdrunner/runner/loader"
)

// validate evaluates the model on the validation set after epoch (1-based), as the
// reference's eval_ssd.py does: the network in evaluation mode on the test transform's
// images, the MultiBox loss against the matched targets, then the detections of the
// post-processing, in pixels of the original images, scored by every configured metric
// against every annotated object (difficult ones flagged).
func (t *trainer) validate(epoch int) (Validation, error) {
	v := Validation{Epoch: epoch, Metrics: map[string]float64{}}
	start := t.now()
	it := t.val.Epoch(context.Background(), 0)
	defer it.Close()
	var gts []metric.GroundTruth
	var dets []metric.Detection
	var sumReg, sumCls float64
	batches := 0
	var shard valShard // a data-parallel rank's part, gathered after the loop
	if t.ddp != nil {
		// every rank evaluates with rank 0's running statistics (DDP's broadcast_buffers)
		if err := t.ddp.broadcastBuffers(); err != nil {
			return v, fmt.Errorf("validation after epoch %d: %w", epoch, err)
		}
	}
	for {
		// Ctrl-C stops the validation before its next batch; the ranks of a data-parallel
		// job vote first (every rank runs the same number of batches, empty parts included)
		stop := t.ctx.Err() != nil
		if t.ddp != nil {
			var err error
			if stop, err = t.ddp.voteStop(stop); err != nil {
				return v, fmt.Errorf("validation after epoch %d: %w", epoch, err)
			}
		}
		if stop {
			return v, ErrInterrupted
		}
		b, err := it.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return v, fmt.Errorf("validation after epoch %d: %w", epoch, err)
		}
		if b.Len() == 0 { // an empty part of a sharded batch
			shard.Batches = append(shard.Batches, valBatch{})
			continue
		}
		reg, cls, pos, d, err := t.evalBatch(b)
		n := len(gts)
		if err == nil {
			gts, err = eval.GroundTruths(gts, t.run.Validation, b.Indices, b.IDs)
		}
		if err == nil && t.ddp != nil {
			shard.add(b, reg, cls, pos, gts[n:], d)
		}
		b.Close()
		if err != nil {
			return v, fmt.Errorf("validation after epoch %d: %w", epoch, err)
		}
		for _, x := range d {
			dets = append(dets, x...)
		}
		sumReg += reg
		sumCls += cls
		batches++
		v.Images += len(b.IDs)
		if t.opts.OnValidationBatch != nil {
			t.opts.OnValidationBatch(epoch, batches)
		}
	}
	t.noteSkipped()
	if t.ddp != nil {
		var err error
		if gts, dets, sumReg, sumCls, batches, v.Images, err = t.gatherValidation(&shard); err != nil {
			return v, fmt.Errorf("validation after epoch %d: %w", epoch, err)
		}
	}
	if batches > 0 {
		v.Regression, v.Classification = sumReg/float64(batches), sumCls/float64(batches)
		v.Loss = v.Regression + v.Classification
	}
	results, err := eval.Score(t.run, gts, dets)
	if err != nil {
		return v, fmt.Errorf("validation after epoch %d: %w", epoch, err)
	}
	for i, m := range results {
		res := m.Result
		v.Metrics[m.Name] = res.Value
		for k, x := range res.Extra {
			v.Metrics[m.Name+"."+k] = x
		}
		if i == 0 {
			v.Metric, v.MAP = m.Name, res.Value
			for _, c := range res.PerClass {
				v.PerClass = append(v.PerClass, ClassAP{Class: c.Class, AP: c.AP})
			}
			t.files.lastPR = res
		}
	}
	conf, err := eval.NewConfusion(t.run.Classes, gts, dets, eval.DefaultConfusionScore, eval.DefaultConfusionIoU)
	if err != nil {
		return v, fmt.Errorf("validation after epoch %d: %w", epoch, err)
	}
	t.files.lastConfusion = conf
	v.Seconds = t.now().Sub(start).Seconds()
	return v, nil
}

// evalBatch runs the network on a validation batch without gradients and returns the
// batch's losses, its positive prior count (the losses' divisor) and the detections of
// each image, boxes scaled to the original image sizes.
func (t *trainer) evalBatch(b *loader.Batch) (reg, cls, pos float64, dets [][]metric.Detection, err error) {
	err = torch.NoGrad(func() (err error) {
		defer torch.Recover(&err)
		s := torch.NewScope()
		defer s.Close()
		images, labels, locT, err := t.onDevice(s, b)
		if err != nil {
			return err
		}
		conf, loc, err := t.run.Model.Forward(images, false)
		if err != nil {
			return err
		}
		s.Ts(conf, loc)
		r, c, err := t.run.Loss.Forward(conf, loc, labels, locT)
		if err != nil {
			return err
		}
		s.Ts(r, c)
		if reg, err = r.Float64Value([]int64{}); err != nil {
			return err
		}
		if cls, err = c.Float64Value([]int64{}); err != nil {
			return err
		}
		if !finite(reg) || !finite(cls) {
			return fmt.Errorf("the validation loss is not finite (regression %g, classification %g) on images %v", reg, cls, b.IDs)
		}
		npos := s.T(s.T(labels.MustGt(s.Int(0), false)).MustSum(gotch.Int64, false))
		pos = float64(npos.Int64Values()[0])
		flat, err := eval.Detections(t.run, conf, loc, b.IDs, b.Sizes)
		if err != nil {
			return err
		}
		// per image, in the batch's order (a data-parallel rank sends them image by image)
		at := make(map[string]int, len(b.IDs))
		for i, id := range b.IDs {
			at[id] = i
		}
		dets = make([][]metric.Detection, len(b.IDs))
		for _, d := range flat {
			dets[at[d.ImageID]] = append(dets[at[d.ImageID]], d)
		}
		return nil
	})
	return reg, cls, pos, dets, err
}
