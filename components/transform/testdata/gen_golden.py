"""Writes the golden files of components/transform from the reference implementation.

Usage: /usr/bin/python3 gen_golden.py /path/to/pytorch-ssd [out_dir]

Needs NumPy, OpenCV (Debian: python3-opencv; the files were made with OpenCV 4.6.0) and
torch (the reference's transforms module imports it). The reference's transforms draw from
numpy.random; they are driven here by a recording stand-in, so that the Go tests can replay
the same draws: every randint/choice is recorded as {"i": value}, every uniform as
{"f": u} with the value low + (high - low) * u, as numpy computes it.
"""
import json
import os
import sys
import warnings

import cv2
import numpy as np

ref = sys.argv[1]
out_dir = sys.argv[2] if len(sys.argv) > 2 else os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, ref)
with warnings.catch_warnings():  # the reference's era used np.bool etc.
    warnings.simplefilter("ignore")
    for alias, typ in (("bool", bool), ("int", int), ("float", float), ("object", object)):
        if not hasattr(np, alias):
            setattr(np, alias, typ)

from vision.transforms import transforms as T  # noqa: E402
from vision.ssd import data_preprocessing as P  # noqa: E402

f32 = np.float32


class Recorder:
    """numpy.random stand-in: draws from a seeded generator and records every draw."""

    def __init__(self, seed):
        self.g = np.random.default_rng(seed)
        self.draws = []

    def randint(self, low, high=None):
        n = low if high is None else high - low
        v = int(self.g.integers(n))
        self.draws.append({"i": v})
        return v if high is None else low + v

    def uniform(self, low=0.0, high=1.0):
        u = float(self.g.random())
        self.draws.append({"f": u})
        return low + (high - low) * u

    def choice(self, seq):
        return seq[self.randint(len(seq))]


class Script(Recorder):
    """Replays given draws (same format) instead of drawing."""

    def __init__(self, draws):
        self.queue = list(draws)
        self.draws = []

    def randint(self, low, high=None):
        d = self.queue.pop(0)
        n = low if high is None else high - low
        assert "i" in d and 0 <= d["i"] < n, (d, n)
        self.draws.append(d)
        return d["i"] if high is None else low + d["i"]

    def uniform(self, low=0.0, high=1.0):
        d = self.queue.pop(0)
        assert "f" in d, d
        self.draws.append(d)
        return low + (high - low) * d["f"]


def flat(a):
    """float32 values as the shortest decimals that parse back to them (as float32)."""
    return [float(repr(x)) for x in np.asarray(a, dtype=np.float32).ravel()]


def hsv_section(rng):
    n = 512  # a multiple of the SIMD width, so OpenCV's vector path converts every pixel
    x = rng.uniform(-60, 400, (1, n, 3)).astype(f32)
    x[0, :64] = np.round(x[0, :64] / 50) * 50  # ties between channels
    x[0, 64:72] = 0
    x[0, 72:96] = x[0, 72:96, :1]  # grey
    x[0, 96:160] = np.round(rng.uniform(0, 255, (64, 3)))  # ordinary pixels
    hsv = cv2.cvtColor(x, cv2.COLOR_RGB2HSV)
    mod = hsv.copy()
    mod[..., 1] *= f32(1.3)
    mod[..., 0] += f32(15.5)
    mod[..., 0][mod[..., 0] > 360.0] -= 360.0
    back = cv2.cvtColor(mod, cv2.COLOR_HSV2RGB)
    return {"rgb": flat(x), "hsv": flat(hsv), "modified": flat(mod), "back": flat(back)}


def resize_section(rng):
    cases = []
    for (h, w, oh, ow) in [(37, 53, 24, 24), (9, 7, 24, 24), (48, 48, 24, 24), (24, 24, 24, 24),
                           (1, 1, 5, 5), (60, 20, 24, 24), (13, 40, 7, 31)]:
        im = np.round(rng.uniform(-20, 280, (h, w, 3)), 1).astype(f32)
        u8 = rng.integers(0, 256, (h, w, 3)).astype(np.uint8)
        cases.append({"h": h, "w": w, "oh": oh, "ow": ow,
                      "float_in": flat(im), "float_out": flat(cv2.resize(im, (ow, oh))),
                      "u8_in": flat(u8), "u8_out": flat(cv2.resize(u8, (ow, oh)))})
    return cases


def photometric_section(rng):
    img = np.round(rng.uniform(0, 255, (13, 16, 3))).astype(f32)  # 208 pixels, a multiple of 16
    scripts = [
        # brightness +, contrast first, saturation, hue, swap 4
        [{"i": 1}, {"f": 0.8}, {"i": 1}, {"i": 1}, {"f": 0.9}, {"i": 1}, {"f": 0.95}, {"i": 1}, {"f": 0.7}, {"i": 1}, {"i": 4}],
        # brightness -, contrast last, no saturation, hue -, no swap
        [{"i": 1}, {"f": 0.05}, {"i": 0}, {"i": 0}, {"i": 1}, {"f": 0.1}, {"i": 1}, {"f": 0.2}, {"i": 0}],
        # strong negative brightness only: the HSV round trip changes negative pixels
        [{"i": 1}, {"f": 0.0}, {"i": 0}, {"i": 0}, {"i": 0}, {"i": 0}, {"i": 0}],
        # nothing
        [{"i": 0}, {"i": 1}, {"i": 0}, {"i": 0}, {"i": 0}, {"i": 0}],
        # saturation up only, swap 5
        [{"i": 0}, {"i": 1}, {"i": 0}, {"i": 1}, {"f": 1.0 - 1e-9}, {"i": 0}, {"i": 1}, {"i": 5}],
    ]
    out = []
    for s in scripts:
        T.random = Script(s)
        res, _, _ = T.PhotometricDistort()(img.copy(), None, None)
        assert not T.random.queue
        out.append({"draws": s, "out": flat(res)})
    return {"h": 13, "w": 16, "image": flat(img), "cases": out}


def instrument(events):
    """Wraps the reference's geometric steps to record what each one did."""
    def wrap(cls, name):
        orig = cls.__call__

        def call(self, image, boxes=None, labels=None):
            res = orig(self, image, boxes, labels)
            if name == "flip":
                events[name] = bool(len(boxes) and not np.array_equal(res[1], boxes))
            else:
                events[name] = res[0].shape != image.shape
            return res
        cls.__call__ = call
    wrap(T.Expand, "expand")
    wrap(T.RandomSampleCrop, "crop")
    wrap(T.RandomMirror, "flip")


def train_section(rng):
    h, w, size = 36, 48, 20
    img = rng.integers(0, 256, (h, w, 3)).astype(np.uint8)
    boxes = np.array([[3, 4, 20, 30], [25, 2.5, 46, 17], [10, 20, 40, 34]], dtype=f32)
    labels = np.array([1, 2, 3], dtype=np.int64)
    events = {}
    instrument(events)
    cases = []
    for mean, std in (([127, 127, 127], 128.0), ([123, 117, 104], 1.0)):
        aug = P.TrainAugmentation(size, np.array(mean), std)
        seen = set()
        seed = 0
        while len(seen) < 8:  # every combination of expand, crop and flip
            seed += 1
            assert seed < 10000
            T.random = Recorder(seed)
            im, bx, lb = aug(img.copy(), boxes.copy(), labels.copy())
            key = (events["expand"], events["crop"], events["flip"])
            if key in seen:
                continue
            seen.add(key)
            cases.append({"mean": mean, "std": std, "draws": T.random.draws,
                          "expand": key[0], "crop": key[1], "flip": key[2],
                          "image": flat(im.permute(1, 2, 0).numpy()),
                          "boxes": flat(bx), "labels": [int(v) for v in lb]})
    return {"h": h, "w": w, "size": size, "image": flat(img), "boxes": flat(boxes),
            "labels": [int(v) for v in labels], "cases": cases}


def test_section(rng):
    img = rng.integers(0, 256, (37, 53, 3)).astype(np.uint8)
    boxes = np.array([[3, 4, 20, 30]], dtype=f32)
    im, bx, _ = P.TestTransform(24, np.array([127, 127, 127]), 128.0)(img.copy(), boxes.copy(), None)
    return {"h": 37, "w": 53, "size": 24, "image": flat(img), "boxes": flat(boxes),
            "out": flat(im.permute(1, 2, 0).numpy()), "out_boxes": flat(bx)}


def main():
    rng = np.random.default_rng(20240601)
    golden = {
        "opencv": cv2.__version__,
        "hsv": hsv_section(rng),
        "resize": resize_section(rng),
        "photometric": photometric_section(rng),
        "train": train_section(rng),
        "test": test_section(rng),
    }
    path = os.path.join(out_dir, "golden.json")
    with open(path, "w") as f:
        json.dump(golden, f, separators=(",", ":"))
    print(path, os.path.getsize(path), "bytes")


if __name__ == "__main__":
    main()
