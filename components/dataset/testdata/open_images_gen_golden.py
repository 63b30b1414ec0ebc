"""Writes open_images_golden.json: what the reference's OpenImagesDataset returns for the
fixture folder testdata/open_images/ (class names, ids, get_annotation, the objects of
__getitem__, and min_image_num with balance_data).

Usage: /usr/bin/python3 open_images_gen_golden.py <reference checkout> [output file]

Needs pandas (Debian: python3-pandas). The fixture holds annotation files only. OpenCV is not
needed: the reference's image reader is replaced by one that returns a black image of the
size listed in SIZES (the Go test writes images of these sizes).
"""
import json
import os
import sys
import types

import numpy as np

ref = sys.argv[1]
here = os.path.dirname(os.path.abspath(__file__))
out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(here, "open_images_golden.json")
root = os.path.join(here, "open_images")

# Image sizes (width, height), chosen so that the float32 products are not trivial.
SIZES = {
    "c4d2f1a0b9e87a65": (37, 23),
    "a1b2c3d4e5f60718": (64, 48),
    "fa9b8c7d6e5f4a3b": (101, 77),
    "b7e6d5c4a3f2e1d0": (13, 211),
    "B7e6d5c4a3f2e1d0": (99, 98),
    "d0e1f2a3b4c5d6e7": (333, 17),
    "e9f8a7b6c5d4e3f2": (50, 50),
    "f1e2d3c4b5a69788": (41, 29),
    "a9b8c7d6e5f4a3b2": (128, 96),
    "abcdef0123456789": (77, 55),
}

sys.modules.setdefault("cv2", types.ModuleType("cv2"))  # imported by the module, unused here
sys.path.insert(0, ref)
from vision.datasets.open_images import OpenImagesDataset  # noqa: E402


def read_image(self, image_id):
    w, h = SIZES[image_id]
    return np.zeros((h, w, 3), dtype=np.uint8)


OpenImagesDataset._read_image = read_image

cases = []
for split in ["train", "validation", "test"]:
    ds = OpenImagesDataset(root, dataset_type=split)
    annotations, items = [], []
    for i in range(len(ds)):
        image_id, (boxes, labels, difficult) = ds.get_annotation(i)
        annotations.append({
            "id": str(image_id),
            "boxes": boxes.reshape(-1, 4).tolist(),
            "labels": labels.tolist(),
            "difficult": [int(d) for d in difficult],
        })
        _, boxes, labels = ds[i]
        items.append({"boxes": boxes.reshape(-1, 4).tolist(), "labels": labels.tolist()})
    cases.append({
        "split": split,
        "class_names": list(ds.class_names),
        "ids": [str(i) for i in ds.ids],
        "annotations": annotations,
        "items": items,
    })

np.random.seed(0)
balanced = OpenImagesDataset(root, dataset_type="train", balance_data=True)

with open(out, "w") as f:
    json.dump({
        "sizes": {k: list(v) for k, v in SIZES.items()},
        "cases": cases,
        "balance": {"split": "train", "min_image_num": int(balanced.min_image_num),
                    "num_images": len(balanced)},
    }, f, indent=1)
    f.write("\n")
print("wrote", out)
