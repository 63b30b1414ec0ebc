#!/usr/bin/python3
"""Writes the golden files of components/anchors and components/boxes.

Usage (Debian's interpreter, which has torch 1.13 and torchvision 0.14):

    /usr/bin/python3 components/anchors/testdata/gen_golden.py REF_CHECKOUT

REF_CHECKOUT is a work tree of the PyTorch SSD project (qfgaohao/pytorch-ssd). Its prior
configurations and box utilities are imported from there and only their results are stored:

  anchors/testdata/ref_{mobilenet,vgg,squeezenet}.npy  priors of the three reference configs
  anchors/testdata/tv_{ssd300,ssd512,ssdlite320}.npy    torchvision DefaultBoxGenerator priors
  anchors/testdata/tv_configs.json                      the torchvision configurations used
  boxes/testdata/boxes_golden.json                      box utilities on seeded random boxes

All priors are float32 [N, 4] (cx, cy, w, h) in image units.
"""

import importlib
import json
import os
import sys
import warnings

import numpy as np

# The reference was written against older NumPy; restore the removed aliases it may touch.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", FutureWarning)
    for _name, _value in (("bool", bool), ("int", int), ("float", float), ("object", object)):
        if not hasattr(np, _name):
            setattr(np, _name, _value)

import torch  # noqa: E402
from torchvision.models.detection import ssd as tv_ssd  # noqa: E402
from torchvision.models.detection import ssdlite as tv_ssdlite  # noqa: E402
from torchvision.models.detection.anchor_utils import DefaultBoxGenerator  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
BOXES_DIR = os.path.join(HERE, "..", "..", "boxes", "testdata")


def save_npy(name, tensor):
    arr = np.ascontiguousarray(tensor.detach().cpu().numpy().astype(np.float32))
    np.save(os.path.join(HERE, name), arr)
    print(f"{name}: {arr.shape}")


def reference_priors():
    for preset, module in (
        ("mobilenet", "mobilenetv1_ssd_config"),
        ("vgg", "vgg_ssd_config"),
        ("squeezenet", "squeezenet_ssd_config"),
    ):
        cfg = importlib.import_module(f"vision.ssd.config.{module}")
        save_npy(f"ref_{preset}.npy", cfg.priors)


def grid_sizes_of(model, size):
    """Feature map sizes that a torchvision SSD backbone yields for a size x size image."""
    model.eval()
    with torch.no_grad():
        feats = model.backbone(torch.zeros(1, 3, size, size))
    return [list(f.shape[-2:]) for f in feats.values()]


def torchvision_priors():
    configs = {}
    torch.manual_seed(0)
    # The real models, untrained: their anchor generators and backbones give the configuration.
    models = {
        "ssd300": (tv_ssd.ssd300_vgg16(weights=None, weights_backbone=None), 300),
        "ssdlite320": (tv_ssdlite.ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None), 320),
    }
    for name, (model, size) in models.items():
        gen = model.anchor_generator
        grids = grid_sizes_of(model, size)
        configs[name] = {
            "image_size": size,
            "feature_map_sizes": [g[0] for g in grids],
            "aspect_ratios": gen.aspect_ratios,
            "scales": [float(s) for s in gen.scales],
            "steps": gen.steps,
            "clip": gen.clip,
        }
        priors = gen._grid_default_boxes(grids, [size, size])
        configs[name]["count"] = priors.shape[0]
        save_npy(f"tv_{name}.npy", priors)
        del model

    # torchvision ships no SSD512; this is the original (Caffe, VOC) SSD512 layout fed to
    # torchvision's generator.
    ssd512 = {
        "image_size": 512,
        "feature_map_sizes": [64, 32, 16, 8, 4, 2, 1],
        "aspect_ratios": [[2], [2, 3], [2, 3], [2, 3], [2, 3], [2], [2]],
        "scales": [0.07, 0.15, 0.3, 0.45, 0.6, 0.75, 0.9, 1.05],
        "steps": [8, 16, 32, 64, 128, 256, 512],
        "clip": True,
    }
    gen = DefaultBoxGenerator(ssd512["aspect_ratios"], scales=ssd512["scales"], steps=ssd512["steps"], clip=True)
    priors = gen._grid_default_boxes([[s, s] for s in ssd512["feature_map_sizes"]], [512, 512])
    ssd512["count"] = priors.shape[0]
    configs["ssd512"] = ssd512
    save_npy("tv_ssd512.npy", priors)

    with open(os.path.join(HERE, "tv_configs.json"), "w") as f:
        json.dump(configs, f, indent=1)
        f.write("\n")


def random_corner_boxes(gen, n):
    xy = torch.rand(n, 2, generator=gen) * 0.8
    wh = torch.rand(n, 2, generator=gen) * 0.5 + 0.01
    return torch.cat([xy, xy + wh], dim=1)


def as_list(t):
    return t.detach().to(torch.float32).reshape(-1).tolist()


def boxes_golden():
    bu = importlib.import_module("vision.utils.box_utils")
    gen = torch.Generator().manual_seed(20240601)
    a = random_corner_boxes(gen, 7)
    b = random_corner_boxes(gen, 5)
    b[0] = a[2]  # an identical pair (IoU just below 1 because of eps)
    b[1] = torch.tensor([2.0, 2.0, 3.0, 3.0])  # disjoint from every box of a
    b[2] = torch.tensor([0.5, 0.5, 0.4, 0.6])  # inverted corners: zero area

    priors = bu.corner_form_to_center_form(random_corner_boxes(gen, 6))
    gt = bu.corner_form_to_center_form(torch.stack([random_corner_boxes(gen, 6) for _ in range(2)]))
    locs = torch.randn(2, 6, 4, generator=gen)

    out = {
        "a": {"shape": list(a.shape), "data": as_list(a)},
        "b": {"shape": list(b.shape), "data": as_list(b)},
        "iou_a_b": {"shape": [7, 5], "data": as_list(bu.iou_of(a.unsqueeze(1), b.unsqueeze(0)))},
        "area_a": {"shape": [7], "data": as_list(bu.area_of(a[..., :2], a[..., 2:]))},
        "area_b": {"shape": [5], "data": as_list(bu.area_of(b[..., :2], b[..., 2:]))},
        "center_a": {"shape": [7, 4], "data": as_list(bu.corner_form_to_center_form(a))},
        "corner_of_center_a": {
            "shape": [7, 4],
            "data": as_list(bu.center_form_to_corner_form(bu.corner_form_to_center_form(a))),
        },
        "priors": {"shape": list(priors.shape), "data": as_list(priors)},
        "gt_center": {"shape": list(gt.shape), "data": as_list(gt)},
        "encoded": {"shape": list(gt.shape), "data": as_list(bu.convert_boxes_to_locations(gt, priors, 0.1, 0.2))},
        "encoded_unbatched": {
            "shape": [6, 4],
            "data": as_list(bu.convert_boxes_to_locations(gt[0], priors, 0.1, 0.2)),
        },
        "locations": {"shape": list(locs.shape), "data": as_list(locs)},
        "decoded": {"shape": list(locs.shape), "data": as_list(bu.convert_locations_to_boxes(locs, priors, 0.1, 0.2))},
        "decoded_var_0.2_0.5": {
            "shape": list(locs.shape),
            "data": as_list(bu.convert_locations_to_boxes(locs, priors, 0.2, 0.5)),
        },
    }
    os.makedirs(BOXES_DIR, exist_ok=True)
    with open(os.path.join(BOXES_DIR, "boxes_golden.json"), "w") as f:
        json.dump(out, f)
        f.write("\n")
    print("boxes_golden.json written")


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.path.insert(0, os.path.abspath(sys.argv[1]))
    torch.set_num_threads(1)
    reference_priors()
    torchvision_priors()
    boxes_golden()


if __name__ == "__main__":
    main()
