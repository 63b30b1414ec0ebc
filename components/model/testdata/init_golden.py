#!/usr/bin/python3
"""Reference data for SSD.Init (components/model/init_test.go), from qfgaohao/pytorch-ssd.

Usage (with Debian's python3-torch 1.13):
    /usr/bin/python3 init_golden.py REF_CHECKOUT OUTDIR          # at test time (~70 MB)
    /usr/bin/python3 init_golden.py REF_CHECKOUT OUTDIR --tiny   # the committed init_tiny.pth

Default mode, for <kind> in mb1_ssd, mb1_ssd_lite:
    <kind>_21.pth      state_dict of a 21-class model: torch.manual_seed(0) default init,
                       batch-norm running statistics set to random values
    <kind>_base.pth    that model's base_net.state_dict(), as the reference's base nets
    <kind>_conf21.npy, <kind>_loc21.npy
                       eval-mode outputs of the reference's SSD.load(<kind>_21.pth) on
                       input.npy (torch.randn([1,3,300,300]), generator seeded with 1)
    <kind>_a.pth       state_dict of a fresh 21-class model (seed 1) after
                       init_from_base_net(<kind>_base.pth)
    <kind>_d.pth       state_dict of a fresh 4-class model (seed 2) after
                       init_from_pretrained_ssd(<kind>_21.pth)
--tiny: a small state_dict (an OrderedDict of three tensors, zip format) for the
file-format and architecture tests.
"""
import collections
import os
import sys
import types
import warnings

import numpy as np

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


def create(ref, kind, num_classes):
    sys.path.insert(0, ref)
    if kind == "mb1_ssd":
        from vision.ssd.mobilenetv1_ssd import create_mobilenetv1_ssd as make
    else:
        from vision.ssd.mobilenetv1_ssd_lite import create_mobilenetv1_ssd_lite as make
    return make(num_classes, is_test=False)


def randomise_statistics(net):
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for name, buf in net.named_buffers():
            if name.endswith("running_mean"):
                buf.copy_(torch.randn(buf.shape, generator=g) * 0.1)
            elif name.endswith("running_var"):
                buf.copy_(torch.rand(buf.shape, generator=g) + 0.5)


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: init_golden.py REF_CHECKOUT OUTDIR [--tiny]")
    ref, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(1)
    if "--tiny" in sys.argv[3:]:
        torch.manual_seed(0)
        conv = torch.nn.Conv2d(3, 4, 3)
        sd = collections.OrderedDict([("0.0.weight", conv.weight.detach()), ("0.0.bias", conv.bias.detach()),
                                      ("0.1.running_mean", torch.zeros(4))])
        torch.save(sd, os.path.join(out, "init_tiny.pth"))
        return
    x = torch.randn(1, 3, 300, 300, generator=torch.Generator().manual_seed(1))
    np.save(os.path.join(out, "input.npy"), x.numpy())
    for kind in ("mb1_ssd", "mb1_ssd_lite"):
        torch.manual_seed(0)
        net = create(ref, kind, 21)
        randomise_statistics(net)
        full = os.path.join(out, kind + "_21.pth")
        base = os.path.join(out, kind + "_base.pth")
        torch.save(net.state_dict(), full)
        torch.save(net.base_net.state_dict(), base)

        loaded = create(ref, kind, 21)
        loaded.load(full)
        loaded.eval()
        with torch.no_grad():
            conf, loc = loaded(x)
        np.save(os.path.join(out, kind + "_conf21.npy"), conf.numpy())
        np.save(os.path.join(out, kind + "_loc21.npy"), loc.numpy())

        torch.manual_seed(1)
        a = create(ref, kind, 21)
        a.init_from_base_net(base)
        torch.save(a.state_dict(), os.path.join(out, kind + "_a.pth"))

        torch.manual_seed(2)
        d = create(ref, kind, 4)
        d.init_from_pretrained_ssd(full)
        torch.save(d.state_dict(), os.path.join(out, kind + "_d.pth"))


if __name__ == "__main__":
    main()
