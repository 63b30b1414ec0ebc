#!/usr/bin/python3
"""Loads a state_dict written by `runner export pth` into the PyTorch SSD project's network
and runs it in test mode, for runner/export's TestPTHReference.

Usage (Debian's python3-torch 1.13):
    /usr/bin/python3 pth_reference.py REF_CHECKOUT JOBS.json

JOBS.json is a list of {"model", "num_classes", "pth", "input", "dims", "out"}: model is a
named model (mb1-ssd, mb1-ssd-lite, mb2-ssd-lite, mb3-large-ssd-lite, mb3-small-ssd-lite,
sq-ssd-lite, vgg16-ssd), input a file of raw little-endian float32 values of shape dims.
For each, the network is built with is_test=True, loaded with the reference's
net.load(pth) (torch.load + strict load_state_dict), put in eval mode, and its outputs
written to out/scores.bin and out/boxes.bin (raw float32).
"""
import json
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


def create(model, num_classes):
    if model == "mb1-ssd":
        from vision.ssd.mobilenetv1_ssd import create_mobilenetv1_ssd as make
    elif model == "mb1-ssd-lite":
        from vision.ssd.mobilenetv1_ssd_lite import create_mobilenetv1_ssd_lite as make
    elif model == "mb2-ssd-lite":
        from vision.ssd.mobilenet_v2_ssd_lite import create_mobilenetv2_ssd_lite as make
    elif model == "mb3-large-ssd-lite":
        from vision.ssd.mobilenetv3_ssd_lite import create_mobilenetv3_large_ssd_lite as make
    elif model == "mb3-small-ssd-lite":
        from vision.ssd.mobilenetv3_ssd_lite import create_mobilenetv3_small_ssd_lite as make
    elif model == "sq-ssd-lite":
        from vision.ssd.squeezenet_ssd_lite import create_squeezenet_ssd_lite as make
    elif model == "vgg16-ssd":
        from vision.ssd.vgg_ssd import create_vgg_ssd as make
    else:
        raise SystemExit("unknown model " + model)
    return make(num_classes, is_test=True)


def main():
    ref, jobs = sys.argv[1:]
    sys.path.insert(0, ref)
    torch.set_num_threads(1)
    with open(jobs) as f:
        jobs = json.load(f)
    for job in jobs:
        net = create(job["model"], job["num_classes"])
        net.load(job["pth"])
        net.eval()
        x = torch.from_numpy(np.fromfile(job["input"], dtype="<f4").reshape(job["dims"]))
        with torch.no_grad():
            scores, boxes = net(x)
        scores.numpy().astype("<f4").tofile(os.path.join(job["out"], "scores.bin"))
        boxes.numpy().astype("<f4").tofile(os.path.join(job["out"], "boxes.bin"))


if __name__ == "__main__":
    main()
