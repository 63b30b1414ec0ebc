#!/usr/bin/python3
"""Writes golden data for components/model from the reference SSD implementation.

Usage (with Debian's python3-torch 1.13):
    /usr/bin/python3 gen_golden.py REF_CHECKOUT OUTDIR            # small, committed files
    /usr/bin/python3 gen_golden.py REF_CHECKOUT OUTDIR --seeded   # checkpoints, at test time

Default mode: the reference's mb1-ssd and mb1-ssd-lite (21 classes) get every state_dict
entry filled from a counter-based hash of its name (see hash_values; the Go test computes
the same values), so only outputs need committing:
    reference.json                   state_dict keys and shapes, parameter counts per module
    <model>_conf.npy, <model>_loc.npy  eval-mode outputs [2,3000,21], [2,3000,4] (float32)
    <model>_train_loc.npy            train-mode (batch statistics) box offsets
    <model>_train_stats.npy          base_net.1.1 running_mean, running_var after that pass
The input is hash_values("input", [2,3,300,300]) scaled to [-1,1).

--seeded mode: torch.manual_seed(0) default initialisation, eval mode, input
torch.randn([2,3,300,300]) from a generator seeded with 1; writes <model>.pth
(torch.save of the state_dict), <model>_input.npy, <model>_conf.npy, <model>_loc.npy.

--seeded MODEL... (mb2_ssd_lite: width 1.0; vgg16_ssd: BatchNorm on conv4_3): the same
files for the named models, with the input [1,3,300,300] and, after torch.manual_seed(0)
initialisation, every batch norm's weight, bias and running statistics redrawn (seed 1) so
that a misplaced batch-norm variable changes the output; vgg16_ssd's convolution weights
are redrawn N(0, 2/fan_in) too, so that activations keep their scale through its layers.
"""
import json
import os
import sys
import types
import warnings
import zlib

import numpy as np

# Shims for the reference's imports: NumPy aliases removed in NumPy 1.24, and OpenCV,
# which only its data transforms use (not needed to build and run the networks).
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    for alias, typ in (("bool", bool), ("int", int), ("float", float), ("object", object)):
        if not hasattr(np, alias):
            setattr(np, alias, typ)
try:
    import cv2  # noqa: F401
except ImportError:
    sys.modules["cv2"] = types.ModuleType("cv2")

import torch  # noqa: E402

MASK = 0xFFFFFFFF


def hash_values(name, n):
    """n values in [-0.5, 0.5): murmur3's finaliser of (i*2654435761 + crc32(name)) mod 2^32."""
    h = (np.arange(n, dtype=np.uint64) * np.uint64(2654435761) + np.uint64(zlib.crc32(name.encode()))) & np.uint64(MASK)
    h ^= h >> np.uint64(16)
    h = (h * np.uint64(0x85EBCA6B)) & np.uint64(MASK)
    h ^= h >> np.uint64(13)
    h = (h * np.uint64(0xC2B2AE35)) & np.uint64(MASK)
    h ^= h >> np.uint64(16)
    return h.astype(np.float64) / 4294967296.0 - 0.5


def hash_init(name, shape):
    """The value of state_dict entry `name`, or None to leave it (num_batches_tracked)."""
    n = int(np.prod(shape))
    u = hash_values(name, n)
    if name.endswith("num_batches_tracked"):
        return None
    if len(shape) == 4:
        fan_in = shape[1] * shape[2] * shape[3]
        scale, offset = float(np.sqrt(24.0 / fan_in)), 0.0  # He: variance 2/fan_in
    elif name.endswith("running_var"):
        scale, offset = 1.0, 1.0
    elif name.endswith("weight"):  # batch-norm weight
        scale, offset = 0.4, 1.0
    else:  # biases, running means
        scale, offset = 0.2, 0.0
    return (u * scale + offset).astype(np.float32).reshape(shape)


def build(ref, kind):
    sys.path.insert(0, ref)
    if kind == "mb1_ssd":
        from vision.ssd.mobilenetv1_ssd import create_mobilenetv1_ssd as create
    elif kind == "mb1_ssd_lite":
        from vision.ssd.mobilenetv1_ssd_lite import create_mobilenetv1_ssd_lite as create
    elif kind == "mb2_ssd_lite":
        from vision.ssd.mobilenet_v2_ssd_lite import create_mobilenetv2_ssd_lite
        return create_mobilenetv2_ssd_lite(21, width_mult=1.0, is_test=False)
    elif kind == "vgg16_ssd":
        from vision.ssd.vgg_ssd import create_vgg_ssd as create
    else:
        sys.exit("unknown model " + kind)
    return create(21, is_test=False)


def redraw(net, convs):
    """Redraws (generator seeded with 1) every batch norm's weight in [0.5, 1.5), bias and
    running mean in [-0.2, 0.2), running variance in [0.5, 1.5) and, with convs, every
    convolution weight N(0, 2/fan_in)."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
                m.bias.copy_(torch.rand(m.bias.shape, generator=g) * 0.4 - 0.2)
                m.running_mean.copy_(torch.rand(m.running_mean.shape, generator=g) * 0.4 - 0.2)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
            elif convs and isinstance(m, torch.nn.Conv2d):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * float(np.sqrt(2.0 / fan_in)))


def module_counts(net):
    names = ["base_net", "source_layer_add_ons", "extras", "classification_headers", "regression_headers"]
    return {n: sum(p.numel() for p in getattr(net, n).parameters()) for n in names}


def hash_mode(ref, out):
    info = {}
    x = torch.from_numpy((hash_values("input", 2 * 3 * 300 * 300) * 2).astype(np.float32).reshape(2, 3, 300, 300))
    for kind in ("mb1_ssd", "mb1_ssd_lite"):
        net = build(ref, kind)
        sd = net.state_dict()
        with torch.no_grad():
            for k, v in sd.items():
                val = hash_init(k, list(v.shape))
                if val is not None:
                    v.copy_(torch.from_numpy(val))
        info[kind] = {
            "keys": [[k, list(v.shape)] for k, v in sd.items()],
            "params": module_counts(net),
        }
        net.eval()
        with torch.no_grad():
            conf, loc = net(x)
        np.save(os.path.join(out, kind + "_conf.npy"), conf.numpy())
        np.save(os.path.join(out, kind + "_loc.npy"), loc.numpy())
        net.train()
        with torch.no_grad():
            _, loc = net(x)
        np.save(os.path.join(out, kind + "_train_loc.npy"), loc.numpy())
        bn = net.base_net[1][1]
        np.save(os.path.join(out, kind + "_train_stats.npy"), torch.stack([bn.running_mean, bn.running_var]).numpy())
        print(kind, "conf", conf.shape, float(conf.abs().max()), "loc", float(loc.abs().max()))
    with open(os.path.join(out, "reference.json"), "w") as f:
        json.dump(info, f, indent=1)


def seeded_mode(ref, out, kinds):
    for kind in kinds or ("mb1_ssd", "mb1_ssd_lite"):
        torch.manual_seed(0)
        net = build(ref, kind)
        if kinds:
            redraw(net, convs=kind == "vgg16_ssd")
        net.eval()
        g = torch.Generator().manual_seed(1)
        x = torch.randn(1 if kinds else 2, 3, 300, 300, generator=g)
        with torch.no_grad():
            conf, loc = net(x)
        torch.save(net.state_dict(), os.path.join(out, kind + ".pth"))
        np.save(os.path.join(out, kind + "_input.npy"), x.numpy())
        np.save(os.path.join(out, kind + "_conf.npy"), conf.numpy())
        np.save(os.path.join(out, kind + "_loc.npy"), loc.numpy())


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: gen_golden.py REF_CHECKOUT OUTDIR [--seeded [MODEL...]]")
    ref, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(1)
    if sys.argv[3:4] == ["--seeded"]:
        seeded_mode(ref, out, sys.argv[4:])
    else:
        hash_mode(ref, out)


if __name__ == "__main__":
    main()
