#!/usr/bin/python3
"""Golden data for the resnet50 backbone tests, from torchvision's ResNet-50.

Usage (Debian's python3-torch 1.13 with python3-torchvision 0.14):
    /usr/bin/python3 gen_golden_resnet50.py OUTDIR [--set full|small]

The network is NVIDIA SSD300 v1.1's feature extractor as its README and model.py describe
it: torchvision.models.resnet50() (random init, nothing downloaded) cut after layer3, with
the strides of layer3's first block (conv1, conv2, downsample.0) set to 1, followed by five
extra blocks built here (1x1 conv, BN, ReLU, 3x3 conv of stride 2 and padding 1 or of
stride 1 without padding, BN, ReLU; no biases; 512, 512, 256, 256, 256 channels). The Go
names are torchvision's under "base_net." and the extra blocks' under "extras.".

--set full (written by the Go test into a temporary folder; ~100 MB):
    resnet50_state.pth   torchvision's whole resnet50 state_dict (torch.manual_seed(0);
                         batch-norm weights, biases and running statistics redrawn with
                         seed 1 so that each of them matters), layer4 and fc included:
                         what an ImageNet checkpoint holds;
    resnet50_layer3.pth  OrderedDict "input" (seed 2, [1,3,300,300]) and "layer3", the cut
                         network's output in eval mode.
--set small (committed): resnet50_golden.json with the state_dict keys and shapes of the
    backbone (not num_batches_tracked), its parameter count per module, the channels of
    its feature maps and "synthetic" feature maps: every variable and the input filled by
    gen_golden_mb2_vgg.py's formula (synthetic()), each map stored as its shape, sum and
    every step-th value (describe()).
"""
import collections
import os
import sys

import torch
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_golden_mb2_vgg import cli, describe, param_counts, redraw_batch_norm, synthetic, write_golden  # noqa: E402

EXTRAS = ((1024, 256, 512, True), (512, 256, 512, True), (512, 128, 256, True),
          (256, 128, 256, False), (256, 128, 256, False))


def truncated(net):
    """conv1 … layer3 of a torchvision resnet50, layer3's first block at stride 1."""
    block = net.layer3[0]
    block.conv1.stride = (1, 1)
    block.conv2.stride = (1, 1)
    block.downsample[0].stride = (1, 1)
    return torch.nn.Sequential(collections.OrderedDict(
        (k, getattr(net, k)) for k in ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3")))


def extras():
    blocks = []
    for cin, mid, cout, down in EXTRAS:
        last = dict(stride=2, padding=1) if down else {}
        blocks.append(torch.nn.Sequential(
            torch.nn.Conv2d(cin, mid, 1, bias=False), torch.nn.BatchNorm2d(mid), torch.nn.ReLU(inplace=True),
            torch.nn.Conv2d(mid, cout, 3, bias=False, **last), torch.nn.BatchNorm2d(cout), torch.nn.ReLU(inplace=True)))
    return torch.nn.ModuleList(blocks)


class Backbone(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.base_net = truncated(torchvision.models.resnet50())
        self.extras = extras()

    def forward(self, x):
        x = self.base_net(x)
        out = [x]
        for e in self.extras:
            x = e(x)
            out.append(x)
        return out


def items(net):
    return [(k, v) for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")]


def full(out):
    torch.manual_seed(0)
    net = torchvision.models.resnet50()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                redraw_batch_norm(m, g)
    torch.save(net.state_dict(), os.path.join(out, "resnet50_state.pth"))
    cut = truncated(net).eval()
    torch.manual_seed(2)
    x = torch.randn(1, 3, 300, 300)
    with torch.no_grad():
        y = cut(x)
    torch.save(collections.OrderedDict([("input", x), ("layer3", y.contiguous())]),
               os.path.join(out, "resnet50_layer3.pth"))


def small(out):
    torch.manual_seed(0)
    net = Backbone().eval()
    hw = 300
    with torch.no_grad():
        channels = [f.shape[1] for f in net(torch.zeros(1, 3, hw, hw))]
        for k, v in net.state_dict(keep_vars=True).items():
            if not k.endswith("num_batches_tracked"):
                v.copy_(synthetic(k, tuple(v.shape)))
        feats = net(synthetic("input", (1, 3, hw, hw)))
    variant = {
        "keys": [[k, list(v.shape)] for k, v in items(net)],
        "params": param_counts(net, ("base_net", "extras")),
        "channels": channels,
        "synthetic": {"input_hw": hw, "features": [describe(f) for f in feats]},
    }
    meta = {"generator": "gen_golden_resnet50.py", "torch": torch.__version__, "torchvision": torchvision.__version__}
    write_golden(os.path.join(out, "resnet50_golden.json"), meta, {"default": variant})


if __name__ == "__main__":
    cli(__doc__, full, small, ref=False)
