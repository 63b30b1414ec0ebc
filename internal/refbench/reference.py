#!/usr/bin/env python3
"""Times operations of the PyTorch SSD reference for `make bench` (internal/refbench).

Usage: reference.py REFERENCE_CHECKOUT CASE THREADS REPS|serve
Prints one JSON line: {"case": ..., "ms": [per-rep milliseconds], "usage": [per-rep
getrusage deltas of this process: minflt, majflt, user_ms, sys_ms, nivcsw]}.
With "serve" in place of REPS (refbench's paired rounds, the training cases), it warms
the case up, prints {"ready": true}, then times one repetition for each line it reads
from stdin and answers each with one such line ("ms" and "usage" of that repetition)
until its input ends.
Run with Debian's python3-torch (/usr/bin/python3). Only timings leave this script.
"""
import itertools
import json
import os
import resource
import sys
import time
import types

import numpy as np

for alias, real in (("bool", bool), ("float", float), ("int", int), ("object", object)):
    if not hasattr(np, alias):
        setattr(np, alias, real)

ref, case, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
serve = sys.argv[4] == "serve"
reps = 0 if serve else int(sys.argv[4])
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


usage = []  # getrusage deltas of each timed repetition (time_reps)


def rusage_delta(a, b):
    return {"minflt": b.ru_minflt - a.ru_minflt, "majflt": b.ru_majflt - a.ru_majflt,
            "user_ms": (b.ru_utime - a.ru_utime) * 1000, "sys_ms": (b.ru_stime - a.ru_stime) * 1000,
            "nivcsw": b.ru_nivcsw - a.ru_nivcsw}


def serve_steps(fn):
    """The paired rounds: a warm-up, then one timed repetition per line of stdin."""
    fn()
    print(json.dumps({"ready": True}), flush=True)
    for _ in sys.stdin:
        ru, t = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        fn()
        ms = (time.perf_counter() - t) * 1000
        delta = rusage_delta(ru, resource.getrusage(resource.RUSAGE_SELF))
        print(json.dumps({"case": case, "ms": [ms], "usage": [delta]}), flush=True)
    sys.exit(0)


def time_reps(fn):
    if serve:
        serve_steps(fn)
    fn()  # warm-up
    out = []
    for _ in range(reps):
        ru, t = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
        usage.append(rusage_delta(ru, resource.getrusage(resource.RUSAGE_SELF)))
    return out


def count_ops(step):
    """refbench -ops: count the ops of one step after a warm-up one, by the names
    libtorch's RecordFunction gives them (what ours counts through the same hook)."""
    step()
    with torch.autograd.profiler.profile() as prof:
        step()
    print(json.dumps({"case": case, "ops": {e.key: e.count for e in prof.key_averages()}}))
    sys.exit(0)


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
        count_ops(step)
    ms = time_reps(step)
elif kind == "step":
    # step:MODEL/BATCH:DIR — the body of train_ssd.py's training loop (zero_grad, forward,
    # MultiboxLoss, backward, SGD step, the three .item() reads) with its optimizer and
    # parameter groups, on the batch step.go wrote into DIR (images, matched targets, the
    # hyper-parameters).
    spec, _, data = rest.partition(":")
    name, batch = spec.rsplit("/", 1)
    batch = int(batch)
    hyper = json.load(open(os.path.join(data, "hyper.json")))
    images = torch.from_numpy(np.fromfile(os.path.join(data, "images.f32"), dtype="<f4").reshape(batch, 3, 300, 300))
    gt_loc = torch.from_numpy(np.fromfile(os.path.join(data, "loc.f32"), dtype="<f4").reshape(batch, -1, 4))
    labels = torch.from_numpy(np.fromfile(os.path.join(data, "labels.i64"), dtype="<i8").reshape(batch, -1))
    if name == "vgg16-ssd":
        from vision.ssd.config import vgg_ssd_config as config
    else:
        from vision.ssd.config import mobilenetv1_ssd_config as config
    from vision.nn.multibox_loss import MultiboxLoss
    net = model(name)
    if len(config.priors) != gt_loc.shape[1]:
        raise SystemExit("%s has %d priors, the targets %d" % (name, len(config.priors), gt_loc.shape[1]))
    net.train(True)
    groups = [
        {"params": net.base_net.parameters(), "lr": hyper["base_net_lr"]},
        {"params": itertools.chain(net.source_layer_add_ons.parameters(), net.extras.parameters()),
         "lr": hyper["extra_layers_lr"]},
        {"params": itertools.chain(net.regression_headers.parameters(), net.classification_headers.parameters())},
    ]
    optimizer = torch.optim.SGD(groups, lr=hyper["lr"], momentum=hyper["momentum"], weight_decay=hyper["weight_decay"])
    criterion = MultiboxLoss(config.priors, iou_threshold=0.5, neg_pos_ratio=3, center_variance=0.1,
                             size_variance=0.2, device=torch.device("cpu"))

    def step():
        optimizer.zero_grad()
        conf, loc = net(images)
        reg, cls = criterion(conf, loc, labels, gt_loc)
        total = reg + cls
        total.backward()
        optimizer.step()
        total.item(), reg.item(), cls.item()
    if os.environ.get("REFBENCH_OPS"):
        count_ops(step)
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
elif kind in ("predict", "eval"):
    # predict:CHECKPOINT:LABELS:IMAGE_LIST — the reference's mb2-ssd-lite predictor, as
    #   run_ssd_example.py: per image cv2.imread, BGR->RGB and Predictor.predict (with the
    #   defaults eval_ssd.py uses: hard NMS, candidate_size 200, score > 0.01); ms per image.
    # eval:CHECKPOINT:LABELS:VOC_ROOT:OUT — eval_ssd.py itself (as a script, on the CPU)
    #   over VOC_ROOT's test split; ms of the whole evaluation (model creation and loading,
    #   every image, the AP computation), one repetition per run.
    # CHECKPOINT is one of `runner apply` (a TorchScript archive of the model's variables
    # beside its own records), converted here into the reference's state_dict.
    import contextlib, io, os, runpy, tempfile
    args = rest.split(":")
    ckpt, labels = args[0], args[1]
    archive = torch.jit.load(ckpt)
    sd = {k: v for k, v in archive.state_dict().items() if not k.startswith("__")}
    classes = [c.strip() for c in open(labels).readlines() if c.strip()]
    from vision.ssd.mobilenet_v2_ssd_lite import create_mobilenetv2_ssd_lite, create_mobilenetv2_ssd_lite_predictor
    net = create_mobilenetv2_ssd_lite(len(classes), is_test=True)
    missing, unexpected = net.load_state_dict(sd, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise SystemExit("checkpoint does not fit mb2-ssd-lite: missing %s, unexpected %s" % (missing[:5], unexpected[:5]))
    if kind == "predict":
        import cv2
        files = [l.strip() for l in open(args[2]) if l.strip()]
        predictor = create_mobilenetv2_ssd_lite_predictor(net, candidate_size=200, nms_method="hard")

        def step():
            with contextlib.redirect_stdout(io.StringIO()):  # predict prints its inference time
                for f in files:
                    image = cv2.cvtColor(cv2.imread(f), cv2.COLOR_BGR2RGB)
                    predictor.predict(image, -1, 0.01)
        ms = [t / len(files) for t in time_reps(step)]
    else:
        voc, out = args[2], args[3]
        pth = os.path.join(out, "model.pth")
        os.makedirs(out, exist_ok=True)
        torch.save(net.state_dict(), pth)
        label_file = os.path.join(out, "labels.txt")
        with open(label_file, "w") as f:
            f.write("\n".join(classes) + "\n")

        def step():
            sys.argv = ["eval_ssd.py", "--net", "mb2-ssd-lite", "--trained_model", pth, "--dataset", voc,
                        "--label_file", label_file, "--eval_dir", os.path.join(out, "eval"), "--use_cuda", "False"]
            with contextlib.redirect_stdout(io.StringIO()):
                runpy.run_path(os.path.join(ref, "eval_ssd.py"), run_name="__main__")
        out_ms = []
        for _ in range(reps):
            t = time.perf_counter()
            step()
            out_ms.append((time.perf_counter() - t) * 1000)
        ms = out_ms
else:
    raise SystemExit("unknown case " + case)
result = {"case": case, "ms": ms}
if len(usage) == len(ms):
    result["usage"] = usage
print(json.dumps(result))
