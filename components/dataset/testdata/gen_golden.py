"""Writes vocref_golden.json: what the reference's VOCDataset returns for the fixture folders
under testdata/vocref/ (class names, ids, get_annotation and the objects of __getitem__).

Usage: /usr/bin/python3 gen_golden.py <reference checkout> [output file]

The fixtures hold annotations only. OpenCV is not needed: the reference's image reader is
replaced by one that returns None, since only annotations are compared.
"""
import json
import os
import sys
import types

ref = sys.argv[1]
here = os.path.dirname(os.path.abspath(__file__))
out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(here, "vocref_golden.json")

sys.modules.setdefault("cv2", types.ModuleType("cv2"))  # imported by the module, unused here
sys.path.insert(0, ref)
from vision.datasets.voc_dataset import VOCDataset  # noqa: E402

VOCDataset._read_image = lambda self, image_id: None

cases = []
for root, is_test, keep_difficult in [
    ("default", False, False),
    ("default", False, True),
    ("default", True, False),
    ("custom", False, False),
    ("custom", False, True),
]:
    ds = VOCDataset(os.path.join(here, "vocref", root), is_test=is_test, keep_difficult=keep_difficult)
    annotations, items = [], []
    for i in range(len(ds)):
        image_id, (boxes, labels, difficult) = ds.get_annotation(i)
        annotations.append({
            "id": image_id,
            "boxes": boxes.reshape(-1, 4).tolist(),
            "labels": labels.tolist(),
            "difficult": [int(d) for d in difficult],
        })
        _, boxes, labels = ds[i]
        items.append({"boxes": boxes.reshape(-1, 4).tolist(), "labels": labels.tolist()})
    cases.append({
        "root": root,
        "split": "test" if is_test else "trainval",
        "keep_difficult": keep_difficult,
        "class_names": list(ds.class_names),
        "ids": list(ds.ids),
        "annotations": annotations,
        "items": items,
    })

with open(out, "w") as f:
    json.dump(cases, f, indent=1)
    f.write("\n")
print("wrote", out)
