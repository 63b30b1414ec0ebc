#!/usr/bin/python3
"""Writes the golden files of components/postprocess.

Usage (Debian's interpreter, which has torch 1.13):

    /usr/bin/python3 components/postprocess/testdata/gen_golden.py REF_CHECKOUT

REF_CHECKOUT is a work tree of the PyTorch SSD project (qfgaohao/pytorch-ssd). Its
box_utils.hard_nms / soft_nms and Predictor.predict are run on seeded random inputs and only
their results are stored:

  nms_golden.json      boxes and scores [N] (plus a tie-heavy copy of the scores) and the
                       indices that hard_nms keeps / soft_nms picks (with their new scores)
                       for several settings
  predict_conf.npy     fake net output: logits [1, 3000, 21] (float32)
  predict_loc.npy      fake net output: box offsets [1, 3000, 4] (float32)
  predict_priors.npy   the reference's MobileNet-SSD priors [3000, 4] (centre form)
  predict_golden.json  Predictor.predict's boxes (image 1x1, so relative), labels and
                       probabilities for several NMS settings

The fake net returns, as the reference SSD in test mode, the softmax of the logits and the
decoded corner-form boxes, computed with the reference's own box utilities.
"""

import importlib
import json
import os
import sys
import types
import warnings

import numpy as np

# The reference was written against older NumPy; restore the removed aliases it may touch.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", FutureWarning)
    for _name, _value in (("bool", bool), ("int", int), ("float", float), ("object", object)):
        if not hasattr(np, _name):
            setattr(np, _name, _value)

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def stub_cv2():
    """Predictor's transform resizes the image with OpenCV; the fake net ignores the image."""
    cv2 = types.ModuleType("cv2")

    def resize(image, size):
        return np.zeros((size[1], size[0]) + image.shape[2:], dtype=image.dtype)

    cv2.resize = resize
    sys.modules.setdefault("cv2", cv2)


def as_list(t):
    return t.detach().to(torch.float32).reshape(-1).tolist()


def index_of_rows(rows, table):
    """Indices into table [N, k] of each row of rows [K, k] (rows of table are distinct)."""
    out = []
    for r in rows:
        hits = (table == r.unsqueeze(0)).all(dim=1).nonzero().reshape(-1).tolist()
        if len(hits) != 1:
            raise SystemExit(f"row {r.tolist()} found {len(hits)} times")
        out.append(hits[0])
    return out


def clustered_boxes(gen, n, clusters):
    """Corner-form boxes in [0, 1] gathered around a few centres, so that NMS has work."""
    centres = torch.rand(clusters, 2, generator=gen) * 0.6 + 0.2
    which = torch.randint(0, clusters, (n,), generator=gen)
    c = centres[which] + torch.randn(n, 2, generator=gen) * 0.04
    wh = torch.rand(n, 2, generator=gen) * 0.25 + 0.05
    return torch.cat([c - wh / 2, c + wh / 2], dim=1)


def nms_golden(bu):
    gen = torch.Generator().manual_seed(20240611)
    n = 300
    boxes = clustered_boxes(gen, n, 12)
    scores = torch.rand(n, generator=gen)
    # Few distinct values, so that many boxes tie (and libtorch's sort is unstable above 16).
    ties = (torch.rand(n, generator=gen) * 6).floor() / 6 + 0.05
    out = {"boxes": as_list(boxes), "n": n, "scores": {"random": as_list(scores), "ties": as_list(ties)}}

    hard = []
    for name, sc in (("random", scores), ("ties", ties)):
        for iou, top_k, cand in ((0.45, -1, 200), (0.45, -1, 1000), (0.3, 10, 200), (0.6, -1, 50), (0.0, -1, 300), (1.0, 5, 20)):
            box_scores = torch.cat([boxes, sc.reshape(-1, 1)], dim=1)
            kept = bu.hard_nms(box_scores.clone(), iou, top_k=top_k, candidate_size=cand)
            hard.append({"scores": name, "iou": iou, "top_k": top_k, "candidate_size": cand,
                         "keep": index_of_rows(kept, box_scores)})
    out["hard"] = hard

    soft = []
    for name, sc in (("random", scores), ("ties", ties)):
        for sigma, thr, top_k in ((0.5, 0.01, -1), (0.5, 0.3, -1), (0.1, 0.2, 15), (2.0, 0.5, -1)):
            box_scores = torch.cat([boxes, sc.reshape(-1, 1)], dim=1)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # soft_nms copies with torch.tensor(tensor)
                picked = bu.soft_nms(box_scores.clone(), thr, sigma=sigma, top_k=top_k)
            soft.append({"scores": name, "sigma": sigma, "score_threshold": thr, "top_k": top_k,
                         "keep": index_of_rows(picked[:, :4], boxes),
                         "new_scores": as_list(picked[:, 4])})
    out["soft"] = soft

    with open(os.path.join(HERE, "nms_golden.json"), "w") as f:
        json.dump(out, f)
        f.write("\n")
    print(f"nms_golden.json: {len(hard)} hard and {len(soft)} soft cases")


def fake_outputs(gen, priors, classes):
    """Logits and offsets of a plausible detector: mostly background, some objects."""
    p = priors.shape[0]
    conf = torch.randn(1, p, classes, generator=gen) * 1.2
    conf[..., 0] += 8.0
    # Objects: a prior and the next few (same location, other shapes) get one class.
    for prior in torch.randint(0, p - 6, (60,), generator=gen).tolist():
        c = int(torch.randint(1, classes, (1,), generator=gen))
        strength = torch.rand(6, generator=gen) * 6 + 4
        conf[0, prior:prior + 6, c] += strength
    # Saturated: 30 overlapping priors (a 3x3 block of the 19x19 map, 6 shapes) whose class-7
    # probability is exactly 1.0 in float32, so that more than 16 candidates tie.
    for row in range(8, 11):
        for col in range(8, 11):
            base = (row * 19 + col) * 6
            conf[0, base:base + 6, :] = 0.0
            conf[0, base:base + 6, 7] = 60.0
    # Exact ties of ordinary probabilities with different boxes: copied rows of logits.
    src = torch.randint(0, p, (40,), generator=gen)
    dst = torch.randint(0, p, (40,), generator=gen)
    conf[0, dst] = conf[0, src]
    loc = torch.randn(1, p, 4, generator=gen) * 0.5
    return conf, loc


class FakeNet(torch.nn.Module):
    def __init__(self, conf, loc, priors, cfg, bu):
        super().__init__()
        self.conf, self.loc, self.priors, self.cfg, self.bu = conf, loc, priors, cfg, bu

    def forward(self, images):
        scores = F.softmax(self.conf, dim=2)
        boxes = self.bu.convert_locations_to_boxes(self.loc, self.priors, self.cfg.center_variance, self.cfg.size_variance)
        return scores, self.bu.center_form_to_corner_form(boxes)


def predict_golden(bu):
    stub_cv2()
    cfg = importlib.import_module("vision.ssd.config.mobilenetv1_ssd_config")
    Predictor = importlib.import_module("vision.ssd.predictor").Predictor
    priors = cfg.priors.to(torch.float32)
    gen = torch.Generator().manual_seed(20240612)
    conf, loc = fake_outputs(gen, priors, 21)
    for name, t in (("predict_conf.npy", conf), ("predict_loc.npy", loc), ("predict_priors.npy", priors)):
        np.save(os.path.join(HERE, name), np.ascontiguousarray(t.numpy().astype(np.float32)))

    net = FakeNet(conf, loc, priors, cfg, bu)
    image = np.zeros((1, 1, 3), dtype=np.uint8)  # 1x1: predict's boxes stay relative
    cases = [
        {"name": "hard", "method": "hard", "iou": 0.45, "score": 0.01, "candidate_size": 200, "sigma": 0.5, "top_k": -1},
        {"name": "hard_tight", "method": "hard", "iou": 0.3, "score": 0.05, "candidate_size": 20, "sigma": 0.5, "top_k": 5},
        {"name": "soft", "method": "soft", "iou": 0.45, "score": 0.01, "candidate_size": 200, "sigma": 0.5, "top_k": -1},
        {"name": "soft_tight", "method": "soft", "iou": 0.45, "score": 0.05, "candidate_size": 200, "sigma": 0.2, "top_k": 3},
    ]
    for case in cases:
        pred = Predictor(net, cfg.image_size, cfg.image_mean, cfg.image_std, nms_method=case["method"],
                         iou_threshold=case["iou"], filter_threshold=case["score"],
                         candidate_size=case["candidate_size"], sigma=case["sigma"], device=torch.device("cpu"))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            boxes, labels, probs = pred.predict(image, top_k=case["top_k"])
        case["boxes"] = as_list(boxes)
        case["labels"] = [int(x) for x in labels.tolist()]
        case["probs"] = as_list(probs)
        print(f"predict {case['name']}: {len(case['labels'])} detections")
    with open(os.path.join(HERE, "predict_golden.json"), "w") as f:
        json.dump(cases, f)
        f.write("\n")


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.path.insert(0, os.path.abspath(sys.argv[1]))
    torch.set_num_threads(1)
    bu = importlib.import_module("vision.utils.box_utils")
    nms_golden(bu)
    predict_golden(bu)


if __name__ == "__main__":
    main()
