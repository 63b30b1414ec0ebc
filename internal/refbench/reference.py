#!/usr/bin/env python3
"""Times operations of the PyTorch SSD reference for `make bench` (internal/refbench).

Usage: reference.py REFERENCE_CHECKOUT CASE THREADS REPS
Prints one JSON line: {"case": ..., "ms": [per-rep milliseconds]}.
Run with Debian's python3-torch (/usr/bin/python3). Only timings leave this script.
"""
import json
import os
import sys
import time
import types

import numpy as np

for alias, real in (("bool", bool), ("float", float), ("int", int), ("object", object)):
    if not hasattr(np, alias):
        setattr(np, alias, real)

ref, case, threads, reps = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
sys.path.insert(0, ref)
import torch  # noqa: E402

torch.set_num_threads(threads)
torch.manual_seed(0)


def model(name):
    if name == "mb1-ssd":
        from vision.ssd.mobilenetv1_ssd import create_mobilenetv1_ssd as f
    elif name == "mb2-ssd-lite":
        from vision.ssd.mobilenet_v2_ssd_lite import create_mobilenetv2_ssd_lite as f
    elif name == "vgg16-ssd":
        from vision.ssd.vgg_ssd import create_vgg_ssd as f
    else:
        raise SystemExit("unknown model " + name)
    return f(21)


def time_reps(fn):
    fn()  # warm-up
    out = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


kind, _, rest = case.partition(":")
if kind in ("forward", "train"):
    name, batch = rest.rsplit("/", 1)
    net = model(name)
    x = torch.randn(int(batch), 3, 300, 300)
    if kind == "forward":
        net.eval()

        def step():
            with torch.no_grad():
                net(x)
    else:
        net.train()

        def step():
            net.zero_grad()
            conf, loc = net(x)
            (conf.sum() + loc.sum()).backward()
    if os.environ.get("REFBENCH_OPS"):
        # refbench -ops: count the ops of one step after a warm-up one, by the names
        # libtorch's RecordFunction gives them (what ours counts through the same hook).
        step()
        with torch.autograd.profiler.profile() as prof:
            step()
        print(json.dumps({"case": case, "ops": {e.key: e.count for e in prof.key_averages()}}))
        sys.exit(0)
    ms = time_reps(step)
elif kind in ("match", "loss"):
    # 32 images x 10 ground truths over the mobilenet priors, as core.go.
    from vision.ssd.config import mobilenetv1_ssd_config as config
    from vision.ssd.ssd import MatchPrior
    from vision.nn.multibox_loss import MultiboxLoss
    priors = config.priors
    matcher = MatchPrior(priors, config.center_variance, config.size_variance, 0.5)
    gts = []
    for _ in range(32):
        xy = np.random.rand(10, 2).astype(np.float32) * 0.7
        wh = np.random.rand(10, 2).astype(np.float32) * 0.28 + 0.02
        gts.append((np.concatenate([xy, xy + wh], 1), np.random.randint(1, 21, size=10)))
    if kind == "match":
        def step():
            for b, l in gts:
                matcher(b, l)
    else:
        pairs = [matcher(b, l) for b, l in gts]
        gt_loc = torch.stack([p[0] for p in pairs])
        labels = torch.stack([p[1] for p in pairs])
        conf = torch.randn(32, 3000, 21, requires_grad=True)
        loc = torch.randn(32, 3000, 4, requires_grad=True)
        crit = MultiboxLoss(priors, iou_threshold=0.5, neg_pos_ratio=3, center_variance=0.1, size_variance=0.2, device=torch.device("cpu"))

        def step():
            conf.grad = None
            loc.grad = None
            reg, cls = crit(conf, loc, labels, gt_loc)
            (reg + cls).backward()
    ms = time_reps(step)
elif kind == "loader":
    # loader:WORKERS:VOC_ROOT (the folder loader.go writes): the training DataLoader of
    # train_ssd.py over it, as loader.go times ours; milliseconds per image.
    workers, _, root = rest.partition(":")
    from torch.utils.data import DataLoader
    from vision.datasets.voc_dataset import VOCDataset
    from vision.ssd.config import mobilenetv1_ssd_config as config
    from vision.ssd.data_preprocessing import TrainAugmentation
    from vision.ssd.ssd import MatchPrior
    import vision.transforms.transforms as T

    class Draws:
        """numpy.random with a choice that accepts the crop's mixed list of modes, which
        numpy >= 1.24 rejects (an inhomogeneous array); everything else is numpy's."""

        def __getattr__(self, name):
            return getattr(np.random, name)

        def choice(self, seq):
            return seq[np.random.randint(len(seq))]

    T.random = Draws()
    dataset = VOCDataset(root, transform=TrainAugmentation(300, np.array([127, 127, 127]), 128.0),
                         target_transform=MatchPrior(config.priors, 0.1, 0.2, 0.5))
    data = DataLoader(dataset, 32, num_workers=int(workers), shuffle=True)

    def step():
        for _ in data:
            pass
    ms = [t / len(dataset) for t in time_reps(step)]
elif kind == "nms":
    # The reference's own Predictor.predict (softmax, decode, per-class hard NMS with its
    # defaults) on one image, its net replaced by one returning fixed raw outputs for
    # the 3000 mobilenet priors x 21 classes, as nms.go. The 300x300 input makes the
    # predictor's resize a same-size copy.
    from vision.ssd.config import mobilenetv1_ssd_config as config
    from vision.ssd.predictor import Predictor
    from vision.utils import box_utils

    class Fixed(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conf = torch.randn(1, 3000, 21)
            self.loc = torch.randn(1, 3000, 4)

        def forward(self, x):
            scores = torch.nn.functional.softmax(self.conf, dim=2)
            boxes = box_utils.convert_locations_to_boxes(self.loc, config.priors, config.center_variance, config.size_variance)
            return scores, box_utils.center_form_to_corner_form(boxes)

    predictor = Predictor(Fixed(), config.image_size, config.image_mean, config.image_std, nms_method="hard",
                          iou_threshold=config.iou_threshold, candidate_size=200, device=torch.device("cpu"))
    image = np.zeros((300, 300, 3), dtype=np.uint8)
    import contextlib, io

    def step():
        with contextlib.redirect_stdout(io.StringIO()):  # predict prints its inference time
            predictor.predict(image, -1, 0.01)
    ms = time_reps(step)
else:
    raise SystemExit("unknown case " + case)
print(json.dumps({"case": case, "ms": ms}))
