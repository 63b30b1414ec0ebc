package train

import (
	"bytes"
	"encoding/gob"
	"fmt"
	"sort"

	"github.com/ssdrunner/ssdrunner/components/metric"
	"github.com/ssdrunner/ssdrunner/runner/loader"
)

// valShard is one rank's part of a sharded validation, gathered by every rank.
type valShard struct {
	Batches []valBatch // one per step, empty parts included
	Images  []valImage
}

// valBatch is a rank's part of one validation batch: its loss sums (mean × positives),
// positive count and images.
type valBatch struct {
	Reg, Cls, Pos float64
	N             int
}

// valImage is one validation image's ground truth and detections, with its dataset index.
type valImage struct {
	Index int
	GT    metric.GroundTruth
	Dets  []metric.Detection
}

func (s *valShard) add(b *loader.Batch, reg, cls, pos float64, gts []metric.GroundTruth, dets [][]metric.Detection) {
	w := max(pos, 1)
	s.Batches = append(s.Batches, valBatch{Reg: reg * w, Cls: cls * w, Pos: pos, N: b.Len()})
	for i, idx := range b.Indices {
		s.Images = append(s.Images, valImage{Index: idx, GT: gts[i], Dets: dets[i]})
	}
}

// gatherValidation collects every rank's shard and returns what one process evaluating the
// whole validation set would have: the ground truths and detections in dataset order (the
// order of the unshuffled validation loader), the sums of the per-batch mean losses (each
// batch's loss divided by its positives over all ranks), the batch count and the images.
func (t *trainer) gatherValidation(s *valShard) (gts []metric.GroundTruth, dets []metric.Detection, sumReg, sumCls float64,
	batches, images int, err error) {
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(s); err != nil {
		return nil, nil, 0, 0, 0, 0, err
	}
	parts, err := t.ddp.g.AllGatherBytes(buf.Bytes())
	if err != nil {
		return nil, nil, 0, 0, 0, 0, t.ddp.wrap("gathering the validation", err)
	}
	shards := make([]valShard, len(parts))
	steps := -1
	for r, p := range parts {
		if err := gob.NewDecoder(bytes.NewReader(p)).Decode(&shards[r]); err != nil {
			return nil, nil, 0, 0, 0, 0, fmt.Errorf("the validation of rank %d: %w", r, err)
		}
		if steps >= 0 && len(shards[r].Batches) != steps {
			return nil, nil, 0, 0, 0, 0, fmt.Errorf("rank %d validated %d batches, rank 0 %d", r, len(shards[r].Batches), steps)
		}
		steps = len(shards[r].Batches)
	}
	for k := range max(steps, 0) {
		var reg, cls, pos float64
		n := 0
		for r := range shards {
			b := shards[r].Batches[k]
			reg, cls, pos, n = reg+b.Reg, cls+b.Cls, pos+b.Pos, n+b.N
		}
		if n == 0 {
			continue // every sample of the batch was skipped, as one process skips the batch
		}
		sumReg += reg / max(pos, 1)
		sumCls += cls / max(pos, 1)
		batches++
		images += n
	}
	var all []valImage
	for r := range shards {
		all = append(all, shards[r].Images...)
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].Index < all[j].Index })
	for _, im := range all {
		gts = append(gts, im.GT)
		dets = append(dets, im.Dets...)
	}
	return gts, dets, sumReg, sumCls, batches, images, nil
}
