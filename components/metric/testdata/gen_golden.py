"""Writes golden.json for the metric package's tests.

Usage (Debian's interpreter, which has torch):

    /usr/bin/python3 gen_golden.py REF_CHECKOUT [COCOAPI_CHECKOUT]

REF_CHECKOUT is a work tree of the PyTorch SSD project (qfgaohao/pytorch-ssd). Its own
evaluation code runs on seeded synthetic ground truths and detections: eval_ssd.py's
group_annotation_by_class on a small in-memory dataset, prediction files written in the
layout eval_ssd.py's main block writes, and eval_ssd.compute_average_precision_per_class
with both use_2007_metric values. The precision/recall arrays it hands to
vision/utils/measurements.py are captured to check the curves as well.

COCOAPI_CHECKOUT (optional) is a work tree of cocodataset/cocoapi. Its PythonAPI COCOeval
(evaluate, accumulate, summarize) runs on the same data with difficult ground truths as
iscrowd=1. Only the compiled extension pycocotools._mask is replaced, by the bounding-box
IoU of common/maskApi.c (bbIou) written in Python below: building the extension needs
Cython, which this machine lacks.

Nothing of either project is copied into the output: only inputs and the numbers the
projects' code computed.
"""

import json
import math
import os
import sys
import types

import numpy as np

# NumPy aliases removed in 1.24 that the two projects still use.
for _name, _alias in (("bool", bool), ("float", float), ("int", int), ("object", object)):
    if not hasattr(np, _name):
        setattr(np, _name, _alias)

IMAGE_W, IMAGE_H = 500.0, 375.0
QUANTUM = 1.0 / 16  # boxes on a 1/16 px grid: exact in float32, also after eval_ssd's +1/-1


# ----------------------------------------------------------------------------------------
# synthetic data


def q(v):
    return float(np.float32(round(v / QUANTUM) * QUANTUM))


def clip_box(b):
    x1 = min(max(b[0], 0.0), IMAGE_W - 1)
    y1 = min(max(b[1], 0.0), IMAGE_H - 1)
    x2 = min(max(b[2], x1 + QUANTUM), IMAGE_W)
    y2 = min(max(b[3], y1 + QUANTUM), IMAGE_H)
    return [q(x1), q(y1), q(x2), q(y2)]


def random_case(seed, n_images, n_classes, name, tie_scores=False, dets_per_gt=4, extra_fp=6):
    rng = np.random.default_rng(seed)
    names = ["BACKGROUND"] + ["class%d" % c for c in range(1, n_classes + 1)]
    gts = []
    for i in range(n_images):
        n = int(rng.integers(0, 6))
        boxes, labels, difficult = [], [], []
        for _ in range(n):
            w = rng.uniform(8, 200)
            h = rng.uniform(8, 200)
            x1 = rng.uniform(0, IMAGE_W - w)
            y1 = rng.uniform(0, IMAGE_H - h)
            boxes.append(clip_box([x1, y1, x1 + w, y1 + h]))
            labels.append(int(rng.integers(1, n_classes + 1)))
            difficult.append(bool(rng.random() < 0.2))
        gts.append({"image_id": "img%03d" % i, "boxes": boxes, "labels": labels, "difficult": difficult})
    # every class needs a non-difficult ground truth, or the reference fails (KeyError)
    for c in range(1, n_classes + 1):
        if not any(l == c and not d for g in gts for l, d in zip(g["labels"], g["difficult"])):
            g = gts[int(rng.integers(0, n_images))]
            g["boxes"].append(clip_box([10, 10, 90, 120]))
            g["labels"].append(c)
            g["difficult"].append(False)

    dets = []
    for g in gts:
        for box, label in zip(g["boxes"], g["labels"]):
            for _ in range(int(rng.integers(0, dets_per_gt))):
                w, h = box[2] - box[0], box[3] - box[1]
                s = rng.uniform(0.02, 0.45)
                jit = [rng.normal(0, s * w), rng.normal(0, s * h), rng.normal(0, s * w), rng.normal(0, s * h)]
                lab = label if rng.random() > 0.1 else int(rng.integers(1, n_classes + 1))
                dets.append({"image_id": g["image_id"], "box": clip_box([b + j for b, j in zip(box, jit)]),
                             "label": lab})
        for _ in range(int(rng.integers(0, extra_fp))):
            w = rng.uniform(8, 150)
            h = rng.uniform(8, 150)
            x1 = rng.uniform(0, IMAGE_W - w)
            y1 = rng.uniform(0, IMAGE_H - h)
            dets.append({"image_id": g["image_id"], "box": clip_box([x1, y1, x1 + w, y1 + h]),
                         "label": int(rng.integers(1, n_classes + 1))})
    order = rng.permutation(len(dets))
    dets = [dets[k] for k in order]
    if tie_scores:
        scores = np.round(rng.uniform(0.05, 1.0, len(dets)), 1).astype(np.float32)
    else:
        # distinct scores: numpy's default argsort (the reference's) is not stable
        scores = rng.choice(np.arange(1, 100000), size=len(dets), replace=False).astype(np.float32) / np.float32(100000)
    for d, s in zip(dets, scores):
        d["score"] = float(np.float32(s))
    return {"name": name, "class_names": names, "ground_truths": gts, "detections": dets}


def box(x1, y1, x2, y2):
    return [float(x1), float(y1), float(x2), float(y2)]


def difficult_first_case():
    # The best-scored detection of class a overlaps only a difficult ground truth: the
    # reference's first precision is 0/0 = NaN, and its 11-point AP becomes NaN.
    gts = [
        {"image_id": "a", "boxes": [box(10, 10, 110, 110), box(200, 50, 300, 150)], "labels": [1, 1],
         "difficult": [True, False]},
        {"image_id": "b", "boxes": [box(20, 20, 120, 220), box(300, 100, 400, 200)], "labels": [1, 2],
         "difficult": [False, False]},
    ]
    dets = [
        {"image_id": "a", "box": box(12, 8, 108, 112), "label": 1, "score": 0.9},
        {"image_id": "a", "box": box(205, 55, 300, 150), "label": 1, "score": 0.8},
        {"image_id": "b", "box": box(250, 250, 300, 300), "label": 1, "score": 0.7},
        {"image_id": "b", "box": box(20, 30, 120, 220), "label": 1, "score": 0.6},
        {"image_id": "b", "box": box(300, 100, 400, 190), "label": 2, "score": 0.5},
    ]
    for d in dets:
        d["score"] = float(np.float32(d["score"]))
    return {"name": "difficult_first", "class_names": ["BACKGROUND", "a", "b"], "ground_truths": gts,
            "detections": dets}


def recall_steps_case():
    # 10 ground truths, 3 found: recall 3/10 = 0.3 lies below numpy's arange value
    # 0.30000000000000004, so the reference's 11-point AP is 3/11, not 4/11.
    gts = [{"image_id": "r%d" % i, "boxes": [box(0, 0, 100, 100)], "labels": [1], "difficult": [False]}
           for i in range(10)]
    dets = [{"image_id": "r%d" % i, "box": box(0, 0, 100, 98), "label": 1, "score": float(np.float32(0.9 - 0.1 * i))}
            for i in range(3)]
    dets.append({"image_id": "r9", "box": box(200, 200, 300, 300), "label": 1, "score": float(np.float32(0.2))})
    return {"name": "recall_steps", "class_names": ["BACKGROUND", "thing"], "ground_truths": gts,
            "detections": dets}


# ----------------------------------------------------------------------------------------
# the reference (eval_ssd.py)


def import_reference(ref):
    sys.path.insert(0, ref)
    if "cv2" not in sys.modules:  # imported by vision.transforms, unused by the evaluation
        sys.modules["cv2"] = types.ModuleType("cv2")
    argv = sys.argv
    sys.argv = ["eval_ssd.py"]  # eval_ssd parses its arguments when imported
    try:
        import eval_ssd
    finally:
        sys.argv = argv
    return eval_ssd


class FakeDataset:
    """The two members of VOCDataset that group_annotation_by_class uses."""

    def __init__(self, gts):
        self.gts = gts
        self.ids = [g["image_id"] for g in gts]

    def __len__(self):
        return len(self.gts)

    def get_annotation(self, i):
        g = self.gts[i]
        boxes = np.array(g["boxes"], dtype=np.float32).reshape(-1, 4)
        labels = np.array(g["labels"], dtype=np.int64)
        difficult = np.array(g["difficult"], dtype=np.uint8)
        return g["image_id"], (boxes, labels, difficult)


def write_predictions(torch, case, class_names, directory):
    """Writes det_test_<class>.txt as eval_ssd.py's main block does (image index, label,
    probability, box + 1, float32, one line per detection)."""
    index = {g["image_id"]: i for i, g in enumerate(case["ground_truths"])}
    ids = [g["image_id"] for g in case["ground_truths"]]
    rows = []
    for d in case["detections"]:
        b = np.array(d["box"], dtype=np.float32)
        back = (np.float32(1.0) + b) - np.float32(1.0)
        assert (back == b).all(), "box not exact after the reference's +1/-1: %r" % d
        rows.append([float(index[d["image_id"]]), float(d["label"]), d["score"]] + d["box"])
    results = torch.tensor(rows, dtype=torch.float32).reshape(-1, 7)
    results[:, 3:] += 1.0
    paths = {}
    for c, name in enumerate(class_names):
        if c == 0:
            continue
        path = os.path.join(directory, "det_test_%s.txt" % name)
        with open(path, "w") as f:
            sub = results[results[:, 1] == c, :]
            for k in range(sub.size(0)):
                vals = sub[k, 2:].numpy()
                f.write(ids[int(sub[k, 0])] + " " + " ".join(str(v) for v in vals) + "\n")
        paths[c] = path
    return paths


def run_reference(ev, torch, case, tmp):
    names = case["class_names"]
    stat, gt_boxes, difficult = ev.group_annotation_by_class(FakeDataset(case["ground_truths"]))
    paths = write_predictions(torch, case, names, tmp)
    captured = []
    orig07 = ev.measurements.compute_voc2007_average_precision
    orig10 = ev.measurements.compute_average_precision

    def capture(fn):
        def wrapped(precision, recall):
            captured.append((np.array(precision, dtype=np.float64), np.array(recall, dtype=np.float64), fn))
            return fn(precision, recall)
        return wrapped

    out = {}
    try:
        ev.measurements.compute_voc2007_average_precision = capture(orig07)
        ev.measurements.compute_average_precision = capture(orig10)
        for key, use07 in (("voc2007", True), ("voc2010", False)):
            per_class = []
            aps = []
            for c in range(1, len(names)):
                captured.clear()
                with np.errstate(invalid="ignore", divide="ignore"):
                    ap = float(ev.compute_average_precision_per_class(
                        stat[c], gt_boxes[c], difficult[c], paths[c], 0.5, use07))
                prec, rec, fn = captured[0]
                keep = ~np.isnan(prec)
                entry = {"class": names[c], "precision": prec[keep].tolist(), "recall": rec[keep].tolist()}
                if math.isnan(ap):
                    # the same reference function on the curve without its 0/0 points
                    entry["ap"] = float(fn(prec[keep], rec[keep]))
                    entry["reference_nan"] = True
                else:
                    entry["ap"] = ap
                per_class.append(entry)
                aps.append(ap)
            mean = sum(aps) / len(aps)
            out[key] = {"per_class": per_class, "mean": mean}
            if math.isnan(mean):
                out[key]["mean"] = sum(e["ap"] for e in per_class) / len(per_class)
                out[key]["reference_nan"] = True
    finally:
        ev.measurements.compute_voc2007_average_precision = orig07
        ev.measurements.compute_average_precision = orig10
    return out


# ----------------------------------------------------------------------------------------
# pycocotools


def bb_iou(dt, gt, iscrowd):
    """Python port of bbIou in cocoapi's common/maskApi.c, [len(dt), len(gt)]."""
    dt = np.asarray(dt, dtype=np.double).reshape(-1, 4)
    gt = np.asarray(gt, dtype=np.double).reshape(-1, 4)
    if len(dt) == 0 or len(gt) == 0:
        return []
    o = np.zeros((len(dt), len(gt)))
    for g in range(len(gt)):
        G = gt[g]
        ga = G[2] * G[3]
        for d in range(len(dt)):
            D = dt[d]
            da = D[2] * D[3]
            w = min(D[2] + D[0], G[2] + G[0]) - max(D[0], G[0])
            if w <= 0:
                continue
            h = min(D[3] + D[1], G[3] + G[1]) - max(D[1], G[1])
            if h <= 0:
                continue
            i = w * h
            u = da if iscrowd[g] else da + ga - i
            o[d, g] = i / u
    return o


def import_cocoeval(cocoapi):
    mask = types.ModuleType("pycocotools._mask")
    mask.iou = bb_iou
    for fn in ("merge", "frPyObjects", "encode", "decode", "area", "toBbox"):
        setattr(mask, fn, None)
    sys.modules["pycocotools._mask"] = mask
    sys.path.insert(0, os.path.join(cocoapi, "PythonAPI"))
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    return COCO, COCOeval


def xywh(b):
    return [b[0], b[1], b[2] - b[0], b[3] - b[1]]


def run_coco(COCO, COCOeval, case, max_dets):
    names = case["class_names"]
    images, anns = [], []
    for i, g in enumerate(case["ground_truths"]):
        images.append({"id": i, "width": IMAGE_W, "height": IMAGE_H})
        for b, l, d in zip(g["boxes"], g["labels"], g["difficult"]):
            bb = xywh(b)
            anns.append({"id": len(anns) + 1, "image_id": i, "category_id": l, "bbox": bb,
                         "area": bb[2] * bb[3], "iscrowd": int(d)})
    gt = COCO()
    gt.dataset = {"images": images, "annotations": anns,
                  "categories": [{"id": c, "name": n} for c, n in enumerate(names) if c > 0]}
    gt.createIndex()
    index = {g["image_id"]: i for i, g in enumerate(case["ground_truths"])}
    res = [{"image_id": index[d["image_id"]], "category_id": d["label"], "bbox": xywh(d["box"]),
            "score": d["score"]} for d in case["detections"]]
    dt = gt.loadRes(res)
    E = COCOeval(gt, dt, "bbox")
    E.params.maxDets = [1, min(10, max_dets), max_dets]  # evaluate() sorts them; AP reads the last
    E.evaluate()
    E.accumulate()
    E.summarize()
    prec = E.eval["precision"]  # [T, R, K, A, M]
    per_class = []
    for k, cat in enumerate(E.params.catIds):
        p = prec[:, :, k, 0, 2]
        if (p > -1).all():
            per_class.append({"class": names[cat], "ap": float(np.mean(p)),
                              "ap50": float(np.mean(p[0])), "ap75": float(np.mean(p[5]))})
    # summarize()'s first three numbers, taken from the precision array as it does; its own
    # stats[0] always looks up maxDets=100 (-1 for other values).
    summary = []
    for t in (slice(None), 0, 5):
        s = prec[t, :, :, 0, 2]
        summary.append(float(np.mean(s[s > -1])))
    if max_dets == 100:
        assert summary == [float(v) for v in E.stats[:3]], (summary, E.stats[:3])
    return {"max_dets": max_dets, "ap": summary[0], "ap50": summary[1], "ap75": summary[2],
            "per_class": per_class}


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: gen_golden.py REF_CHECKOUT [COCOAPI_CHECKOUT]")
    import tempfile

    import torch

    ev = import_reference(sys.argv[1])
    cocoeval = import_cocoeval(sys.argv[2]) if len(sys.argv) == 3 else None
    cases = [
        random_case(7, 50, 5, "random"),
        difficult_first_case(),
        recall_steps_case(),
    ]
    coco_only = [
        random_case(11, 40, 3, "ties", tie_scores=True),
        random_case(13, 12, 2, "crowded", dets_per_gt=9, extra_fp=12),
    ]
    out = {"cases": []}
    for case in cases:
        with tempfile.TemporaryDirectory() as tmp:
            case.update(run_reference(ev, torch, case, tmp))
        out["cases"].append(case)
    if cocoeval:
        for case in cases + coco_only:
            case["coco"] = [run_coco(*cocoeval, case, 100), run_coco(*cocoeval, case, 3)]
        out["cases"].extend(coco_only)
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden.json")
    with open(path, "w") as f:
        json.dump(out, f, separators=(",", ":"), allow_nan=False)
        f.write("\n")
    print("wrote", path, os.path.getsize(path), "bytes")


if __name__ == "__main__":
    main()
