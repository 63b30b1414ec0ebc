package main

import (
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/components/boxes"
	"github.com/ssdrunner/ssdrunner/components/postprocess"
	"github.com/ssdrunner/ssdrunner/internal/torch"
)

// nmsCase: the reference's Predictor.predict post-processing on one image's raw output
// (3000 mobilenet priors x 21 classes, random logits and offsets), with its defaults:
// hard NMS, score threshold 0.01, candidate size 200, IoU 0.45, top_k -1.
func nmsCase() benchCase {
	return benchCase{name: "NMS + decode, 3000 boxes x 20 classes", ref: "nms", reps: 10, target: "≤ 1.0", ours: timeNMS}
}

func timeNMS(reps int) (measured, error) {
	priors, err := mobilenetPriors()
	if err != nil {
		return measured{}, err
	}
	defer priors.MustDrop()
	torch.ManualSeed(0)
	conf := ts.MustRandn([]int64{1, 3000, 21}, gotch.Float, gotch.CPU)
	defer conf.MustDrop()
	loc := ts.MustRandn([]int64{1, 3000, 4}, gotch.Float, gotch.CPU)
	defer loc.MustDrop()
	cfg := postprocess.Config{Method: postprocess.Hard, IoUThreshold: 0.45, ScoreThreshold: 0.01, CandidateSize: 200}
	return timeReps(reps, func() error {
		_, err := postprocess.Detect(conf, loc, priors, boxes.DefaultVariances, cfg)
		return err
	})
}
