#!/usr/bin/python3
"""The reference's evaluation of a small model, for runner/eval's reference test.

Usage (Debian's python3-torch 1.13 and python3-opencv):
    /usr/bin/python3 eval_reference.py REF_CHECKOUT VOC_ROOT OUTDIR
    /usr/bin/python3 eval_reference.py --ap REF_CHECKOUT VOC_ROOT DET_DIR LABELS

--ap prints {class: AP} as JSON: eval_ssd.py's own compute_average_precision_per_class
(VOC2007 11-point, IoU 0.5) over the det_test_<class>.txt files of DET_DIR, the ground
truths read by its group_annotation_by_class from VOC_ROOT's test split.

Writes into OUTDIR:
    model.pth       the state_dict of the reference's mb1-ssd-lite for the classes of
                    VOC_ROOT/labels.txt (torch.manual_seed(0) default initialisation, the
                    classifier's weights scaled up so that scores spread as a trained
                    model's do)
    labels.txt      its classes, BACKGROUND first, one per line
    eval/           what eval_ssd.py writes (det_test_<class>.txt)
    eval.json       {"ap": {class: AP}, "map": mAP} as eval_ssd.py prints them

eval_ssd.py runs unchanged (as a script, on the CPU) on VOC_ROOT's ImageSets/Main/test.txt.
"""
import io
import json
import os
import re
import runpy
import sys
import types
import warnings
from contextlib import redirect_stdout

import numpy as np

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    for alias, typ in (("bool", bool), ("int", int), ("float", float), ("object", object)):
        if not hasattr(np, alias):
            setattr(np, alias, typ)

import torch  # noqa: E402

if sys.argv[1] == "--ap":
    ref, voc, dets, labels = sys.argv[2:6]
    sys.path.insert(0, ref)
    sys.argv = ["eval_ssd.py", "--dataset", voc, "--label_file", labels]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = runpy.run_path(os.path.join(ref, "eval_ssd.py"), run_name="eval_ssd")
        classes = [c.strip() for c in open(labels).readlines()]
        stat, boxes, difficult = g["group_annotation_by_class"](g["VOCDataset"](voc, is_test=True))
        ap = {}
        for i, c in enumerate(classes):
            if i == 0 or i not in stat:
                continue
            ap[c] = g["compute_average_precision_per_class"](
                stat[i], boxes[i], difficult[i], os.path.join(dets, "det_test_%s.txt" % c), 0.5, True)
    print(json.dumps(ap))
    sys.exit(0)

ref, voc, out = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path.insert(0, ref)
os.makedirs(out, exist_ok=True)
torch.set_num_threads(1)

with open(os.path.join(voc, "labels.txt")) as f:
    classes = ["BACKGROUND"] + [c.strip() for c in f.read().strip().split(",")]
labels = os.path.join(out, "labels.txt")
with open(labels, "w") as f:
    f.write("\n".join(classes) + "\n")

from vision.ssd.mobilenetv1_ssd_lite import create_mobilenetv1_ssd_lite  # noqa: E402

torch.manual_seed(0)
net = create_mobilenetv1_ssd_lite(len(classes), is_test=False)
with torch.no_grad():
    for name, p in net.named_parameters():
        if name.startswith("classification_headers") and name.endswith("weight"):
            p.mul_(8)
model = os.path.join(out, "model.pth")
torch.save(net.state_dict(), model)

sys.argv = ["eval_ssd.py", "--net", "mb1-ssd-lite", "--trained_model", model, "--dataset", voc,
            "--label_file", labels, "--eval_dir", os.path.join(out, "eval"), "--use_cuda", "False"]
buf = io.StringIO()
with redirect_stdout(buf):
    runpy.run_path(os.path.join(ref, "eval_ssd.py"), run_name="__main__")
text = buf.getvalue()
_, _, tail = text.partition("Average Precision Per-class:")
ap = {}
for line in tail.splitlines():
    m = re.match(r"^(\S+): (\S+)$", line.strip())
    if m and m.group(1) in classes:
        ap[m.group(1)] = float(m.group(2))
m = re.search(r"Average Precision Across All Classes:(\S+)", text)
with open(os.path.join(out, "eval.json"), "w") as f:
    json.dump({"ap": ap, "map": float(m.group(1))}, f)
