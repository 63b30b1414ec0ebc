#!/usr/bin/python3
"""Golden data for the mobilenet_v3 and squeezenet backbone tests, from the reference SSD code.

Usage (Debian's python3-torch 1.13):
    /usr/bin/python3 gen_golden_mb3_sq.py REF_CHECKOUT OUTDIR [--set full|small]

REF_CHECKOUT is a work tree of qfgaohao/pytorch-ssd. The script builds the reference's
mb3-large-ssd-lite, mb3-small-ssd-lite and sq-ssd-lite (num_classes 21, is_test False) and
records what they compute in eval mode on one [1,3,300,300] input: the feature maps that
SSD.forward hands to compute_header (captured by wrapping that method) and the whole
model's outputs, confidences [1,N,21] and locations [1,N,4].

Models: mb3_large, mb3_small, sq.

--set full (default; a few MB each, written by the Go test into a temporary folder):
    <model>_state.pth      state_dict of the whole SSD (torch.manual_seed(0) before building),
                           with every batch norm's weight, bias and running statistics and
                           every convolution bias redrawn (generator seed 1), so that a
                           misplaced variable changes the outputs;
    <model>_outputs.pth    OrderedDict: "input" (seed 2, [1,3,300,300]), the feature maps
                           "0".."5", "conf" [N,21] and "loc" [N,4] (the batch dimension
                           dropped).
--set small (committed): mb3_golden.json (variants mb3_large, mb3_small) and sq_golden.json
    (variant sq) with, per model, the state_dict keys and shapes (num_batches_tracked left
    out), the parameter count per top-level module, the channels and sizes of the feature
    maps for a 300×300 input and "synthetic" results: every state_dict entry and the input
    filled by gen_golden_mb2_vgg.py's synthetic() formula (which the Go tests reproduce),
    convolution weights then multiplied by "conv_scale" (in float32), the six feature maps, conf and loc each stored as its shape, sum, largest magnitude
    and every step-th value of its flattened data.
"""
import collections
import os
import sys
import types
import warnings

import numpy as np

# Shims for the reference's imports: NumPy aliases removed in NumPy 1.24, and OpenCV,
# which only its data transforms use (building and running the networks does not).
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    for _alias, _typ in (("bool", bool), ("int", int), ("float", float), ("object", object)):
        if not hasattr(np, _alias):
            setattr(np, _alias, _typ)
try:
    import cv2  # noqa: F401
except ImportError:
    sys.modules["cv2"] = types.ModuleType("cv2")

import torch  # noqa: E402

sys.dont_write_bytecode = True  # no __pycache__ in testdata
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_golden_mb2_vgg import (cli, describe, features, param_counts, redraw_batch_norm,  # noqa: E402
                                synthetic, write_golden)

MODULES = ("base_net", "source_layer_add_ons", "extras", "classification_headers", "regression_headers")
NUM_CLASSES = 21
# Factor on the synthetic convolution weights. With the plain formula mb3_large's eval
# activations reach 1e5 (its identity shortcuts and hard-swishes double the variance that
# the formula's batch-norm statistics do not remove); at 0.875 they stay within about 100.
CONV_SCALE = {"mb3_large": 0.875}


def creators(ref):
    sys.path.insert(0, os.path.abspath(ref))
    from vision.ssd.mobilenetv3_ssd_lite import (create_mobilenetv3_large_ssd_lite,
                                                 create_mobilenetv3_small_ssd_lite)
    from vision.ssd.squeezenet_ssd_lite import create_squeezenet_ssd_lite
    return collections.OrderedDict([
        ("mb3_large", create_mobilenetv3_large_ssd_lite),
        ("mb3_small", create_mobilenetv3_small_ssd_lite),
        ("sq", create_squeezenet_ssd_lite),
    ])


def build(create):
    torch.manual_seed(0)
    net = create(NUM_CLASSES, is_test=False)
    net.eval()
    return net


def run(net, x):
    """Feature maps, conf and loc of net (eval mode, no grad) for x."""
    feats = features(net, x)
    with torch.no_grad():
        conf, loc = net(x)
    return feats, conf.contiguous(), loc.contiguous()


# ---- full set ---------------------------------------------------------------------------

def redraw(net, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                redraw_batch_norm(m, g)
            elif isinstance(m, torch.nn.Conv2d) and m.bias is not None:
                m.bias.copy_(torch.rand(m.bias.shape, generator=g) * 0.2 - 0.1)


def full(ref, out):
    torch.manual_seed(2)
    x = torch.randn(1, 3, 300, 300)
    for name, create in creators(ref).items():
        net = build(create)
        redraw(net, 1)
        torch.save(net.state_dict(), os.path.join(out, name + "_state.pth"))
        feats, conf, loc = run(net, x)
        d = collections.OrderedDict([("input", x.clone())])
        for i, f in enumerate(feats):
            d[str(i)] = f
        # Batch 1 dropped: gotch v0.7.0's pickle reader mis-reads 3-tuples (TUPLE3), which
        # torch.save writes for the size and stride of 3-dimensional tensors.
        d["conf"], d["loc"] = conf[0].clone(), loc[0].clone()
        torch.save(d, os.path.join(out, name + "_outputs.pth"))
        print(name, "conf max", float(conf.abs().max()), "loc max", float(loc.abs().max()))


# ---- small set --------------------------------------------------------------------------

def small_variant(net, conv_scale):
    sd = net.state_dict()
    feats, _, _ = run(net, torch.zeros(1, 3, 300, 300))
    info = {
        "keys": [[k, list(v.shape)] for k, v in sd.items() if not k.endswith("num_batches_tracked")],
        "params": param_counts(net, MODULES),
        "channels": [f.shape[1] for f in feats],
        "sizes": [f.shape[2] for f in feats],
    }
    with torch.no_grad():
        for k, v in net.state_dict(keep_vars=True).items():
            if not k.endswith("num_batches_tracked"):
                t = synthetic(k, tuple(v.shape))
                v.copy_(t * conv_scale if t.dim() == 4 else t)
    x = synthetic("input", (1, 3, 300, 300))
    feats, conf, loc = run(net, x)
    info["synthetic"] = {
        "input_hw": 300,
        "conv_scale": conv_scale,
        "features": [describe(f) for f in feats],
        "conf": describe(conf),
        "loc": describe(loc),
    }
    return info


def small(ref, out):
    variants = collections.OrderedDict()
    for name, create in creators(ref).items():
        variants[name] = small_variant(build(create), CONV_SCALE.get(name, 1.0))
    meta = {"generator": "gen_golden_mb3_sq.py", "torch": torch.__version__}
    for fname, names in (("mb3_golden.json", ("mb3_large", "mb3_small")), ("sq_golden.json", ("sq",))):
        write_golden(os.path.join(out, fname), meta, collections.OrderedDict((n, variants[n]) for n in names))


if __name__ == "__main__":
    cli(__doc__, full, small)
