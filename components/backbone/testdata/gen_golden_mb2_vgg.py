#!/usr/bin/python3
"""Golden data for the mobilenet_v2 and vgg16 backbone tests, from the reference SSD code.

Usage (Debian's python3-torch 1.13):
    /usr/bin/python3 gen_golden_mb2_vgg.py REF_CHECKOUT OUTDIR [--set full|small]

REF_CHECKOUT is a work tree of qfgaohao/pytorch-ssd. The script builds the reference's
mb2-ssd-lite (num_classes 21) and vgg16-ssd and records what their backbones compute: the
feature maps that SSD.forward hands to compute_header, captured by wrapping that method.

--set full (default; tens of MB, written by the Go test into a temporary folder):
    mb2_state.pth / vgg_state.pth      state_dict of the whole SSD (torch.manual_seed(0)),
                                       with every batch norm's weight, bias and running
                                       statistics redrawn (seed 1) so that a misplaced
                                       batch-norm variable changes the output, and, for
                                       vgg, the convolution weights redrawn N(0, 2/fan_in)
                                       so that activations keep their scale through the
                                       16 layers;
    mb2_features.pth / vgg_bn_features.pth
                                       OrderedDict: "input" (seed 2, [1,3,300,300]) and the
                                       feature maps "0".."5", eval mode;
    vgg_l2_features.pth                the first feature map when conv4_3's add-on is the
                                       reference's ScaledL2Norm(512) (its scale redrawn,
                                       saved as "source_layer_add_ons.0.weight", the Go
                                       backbone's name for it) instead of BatchNorm2d.
--set small (committed): mb2_golden.json and vgg_golden.json with, per variant, the
    backbone's state_dict keys and shapes (base_net, source_layer_add_ons, extras; not
    num_batches_tracked), its parameter count per module, the channels of its feature
    maps, and for some variants "synthetic" feature maps: every variable and the input
    filled by a formula that the Go test reproduces exactly (see synthetic()), each map
    stored as its shape, sum and every step-th value of its flattened data.
"""
import argparse
import collections
import json
import math
import os
import sys
import types

import numpy as np
import torch

MODULES = ("base_net", "source_layer_add_ons", "extras")
SAMPLES = 1024  # at most this many values per synthetic feature map


def load_reference(ref):
    sys.path.insert(0, os.path.abspath(ref))
    # The reference imports OpenCV for its data transforms, which building the networks
    # does not use; Debian's python3 here has no cv2.
    sys.modules.setdefault("cv2", types.ModuleType("cv2"))
    from vision.ssd.mobilenet_v2_ssd_lite import create_mobilenetv2_ssd_lite
    from vision.ssd.vgg_ssd import create_vgg_ssd
    from vision.nn.scaled_l2_norm import ScaledL2Norm
    return create_mobilenetv2_ssd_lite, create_vgg_ssd, ScaledL2Norm


def features(net, x):
    """Runs net (eval, no grad) and returns the inputs of its compute_header calls."""
    seen = []
    inner = net.compute_header

    def capture(i, y):
        seen.append(y.detach().clone().contiguous())
        return inner(i, y)

    net.compute_header = capture
    try:
        net.eval()
        with torch.no_grad():
            net(x)
    finally:
        del net.compute_header
    return seen


def set_l2(net, l2):
    """Replaces the conv4_3 add-on of a vgg16-ssd with l2."""
    idx, _ = net.source_layer_indexes[0]
    net.source_layer_indexes[0] = (idx, l2)
    net.source_layer_add_ons = torch.nn.ModuleList([l2])


def param_counts(net, modules):
    """Parameter count of each of the named top-level modules of net."""
    return {m: sum(p.numel() for p in getattr(net, m).parameters()) for m in modules}


def write_golden(path, meta, variants):
    """Writes a committed golden file: {"meta": meta, "variants": variants}, compact."""
    with open(path, "w") as f:
        json.dump({"meta": meta, "variants": variants}, f, separators=(",", ":"))
        f.write("\n")


def cli(doc, full, small, ref=True):
    """The generators' command line: [REF_CHECKOUT] OUTDIR [--set full|small]."""
    ap = argparse.ArgumentParser(description=doc.split("\n")[0])
    if ref:
        ap.add_argument("ref", help="work tree of qfgaohao/pytorch-ssd")
    ap.add_argument("out", help="output folder")
    ap.add_argument("--set", choices=("full", "small"), default="full")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    torch.set_num_threads(1)
    args = (a.ref, a.out) if ref else (a.out,)
    (full if a.set == "full" else small)(*args)


def backbone_items(net):
    """(Go name, tensor) of the backbone's state_dict entries, num_batches_tracked left out."""
    out = []
    for k, v in net.state_dict().items():
        if k.split(".")[0] in MODULES and not k.endswith("num_batches_tracked"):
            out.append((k[:-len("scale")] + "weight" if k.endswith(".scale") else k, v))
    return out


# ---- full set ---------------------------------------------------------------------------

def redraw_batch_norm(m, g):
    """Redraws a BatchNorm2d's weight, bias and running statistics from generator g (call
    under torch.no_grad()); shared by the generators' full sets."""
    m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
    m.bias.copy_(torch.rand(m.bias.shape, generator=g) * 0.4 - 0.2)
    m.running_mean.copy_(torch.rand(m.running_mean.shape, generator=g) * 0.4 - 0.2)
    m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)


def redraw(net, seed, convs):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                redraw_batch_norm(m, g)
            elif convs and isinstance(m, torch.nn.Conv2d):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * math.sqrt(2.0 / fan_in))


def save_features(path, x, feats, extra=None):
    d = collections.OrderedDict([("input", x.clone())])
    for i, f in enumerate(feats):
        d[str(i)] = f
    for k, v in (extra or {}).items():
        d[k] = v.detach().clone().contiguous()
    torch.save(d, path)


def full(ref, out):
    create_mb2, create_vgg, ScaledL2Norm = load_reference(ref)
    torch.manual_seed(2)
    x = torch.randn(1, 3, 300, 300)

    torch.manual_seed(0)
    mb2 = create_mb2(21, width_mult=1.0)
    redraw(mb2, 1, convs=False)
    torch.save(mb2.state_dict(), os.path.join(out, "mb2_state.pth"))
    save_features(os.path.join(out, "mb2_features.pth"), x, features(mb2, x))

    torch.manual_seed(0)
    vgg = create_vgg(21)
    redraw(vgg, 1, convs=True)
    torch.save(vgg.state_dict(), os.path.join(out, "vgg_state.pth"))
    save_features(os.path.join(out, "vgg_bn_features.pth"), x, features(vgg, x))

    l2 = ScaledL2Norm(512, 20)
    with torch.no_grad():
        l2.scale.copy_(torch.rand(512, generator=torch.Generator().manual_seed(3)) * 20 + 10)
    set_l2(vgg, l2)
    save_features(os.path.join(out, "vgg_l2_features.pth"), x, features(vgg, x)[:1],
                  {"source_layer_add_ons.0.weight": l2.scale})


# ---- small set --------------------------------------------------------------------------

M32 = np.uint64(0xFFFFFFFF)


def fnv1a(s):
    h = 2166136261
    for b in s.encode():
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return h


def unit(name, n):
    """n values in [0, 1) from a hash of (name, index); the Go test computes the same."""
    j = np.arange(1, n + 1, dtype=np.uint64)
    h = (np.uint64(fnv1a(name)) + j * np.uint64(2654435761)) & M32
    h ^= h >> np.uint64(16)
    h = (h * np.uint64(0x45D9F3B)) & M32
    h ^= h >> np.uint64(16)
    return h.astype(np.float64) / 4294967296.0


def synthetic(name, shape):
    """The formula value of a variable (or of "input"), float32."""
    n = int(np.prod(shape))
    u = unit(name, n)
    if name == "input":
        v = 2.0 * u - 1.0
    elif len(shape) == 4:  # convolution weight: uniform with variance 2/fan_in
        v = (2.0 * u - 1.0) * (math.sqrt(3.0) * math.sqrt(2.0 / (n // shape[0])))
    elif name.endswith("running_var") or name.endswith("weight"):
        v = u + 0.5
    else:  # bias, running_mean
        v = (2.0 * u - 1.0) * 0.2
    return torch.from_numpy(v.astype(np.float32).reshape(shape))


def fill_synthetic(net):
    with torch.no_grad():
        params = dict(net.state_dict(keep_vars=True))
        for k, v in params.items():
            if k.split(".")[0] not in MODULES or k.endswith("num_batches_tracked"):
                continue
            go = k[:-len("scale")] + "weight" if k.endswith(".scale") else k
            v.copy_(synthetic(go, tuple(v.shape)))


def describe(f):
    flat = f.reshape(-1).double()
    step = max(1, math.ceil(flat.numel() / SAMPLES))
    return {
        "shape": list(f.shape),
        "sum": float(flat.sum()),
        "abs_max": float(flat.abs().max()),
        "step": step,
        "sample": [float("%.9g" % v) for v in flat[::step].tolist()],
    }


def variant(net, hw, synth, only_first=False):
    items = backbone_items(net)
    out = {
        "keys": [[k, list(v.shape)] for k, v in items],
        "params": param_counts(net, MODULES),
        "channels": [f.shape[1] for f in features(net, torch.zeros(1, 3, hw, hw))],
    }
    if synth:
        fill_synthetic(net)
        x = synthetic("input", (1, 3, hw, hw))
        feats = features(net, x)
        if only_first:
            feats = feats[:1]
        out["synthetic"] = {"input_hw": hw, "features": [describe(f) for f in feats]}
    return out


def small(ref, out):
    create_mb2, create_vgg, ScaledL2Norm = load_reference(ref)
    mb2 = collections.OrderedDict()
    for name, kw, synth in (
        ("w1.0", dict(width_mult=1.0), False),
        ("w0.75", dict(width_mult=0.75), False),
        ("w0.5", dict(width_mult=0.5), False),
        ("w0.25", dict(width_mult=0.25), True),
        ("w1.0_nobn", dict(width_mult=1.0, use_batch_norm=False), False),
        ("w0.5_relu_nobn", dict(width_mult=0.5, use_batch_norm=False, onnx_compatible=True), True),
    ):
        torch.manual_seed(0)
        mb2[name] = variant(create_mb2(21, **kw), 300, synth)
    vgg = collections.OrderedDict()
    torch.manual_seed(0)
    net = create_vgg(21)
    vgg["batch_norm"] = variant(net, 300, True)
    set_l2(net, ScaledL2Norm(512, 20))
    vgg["l2"] = variant(net, 300, True, only_first=True)
    meta = {"generator": "gen_golden_mb2_vgg.py", "torch": torch.__version__}
    for fname, data in (("mb2_golden.json", mb2), ("vgg_golden.json", vgg)):
        write_golden(os.path.join(out, fname), meta, data)


if __name__ == "__main__":
    cli(__doc__, full, small)
