#!/usr/bin/python3
"""Writes the golden files of components/target and components/loss.

Usage (Debian's interpreter, which has torch 1.13):

    /usr/bin/python3 components/target/testdata/gen_golden.py REF_CHECKOUT

REF_CHECKOUT is a work tree of the PyTorch SSD project (qfgaohao/pytorch-ssd). Its MobileNet
priors, prior matcher (MatchPrior / assign_priors), hard negative mining and MultiboxLoss are
imported from there and only their results are stored:

  target/testdata/match_golden.npz  priors [3000,4] and, per ground-truth case C,
                                    C_gt_boxes [G,4], C_gt_labels [G], C_labels [P], C_loc [P,4]
  loss/testdata/loss_golden.npz     targets, mining masks, loss values and gradients for
                                    predictions given by the integer hash below

Labels and masks are stored as int16 (gotch reads no bool or "|u1" arrays), sums of
gradients as float64, everything else as float32. The zero-box case
is not stored: the reference raises on it (max() over an empty dimension).
"""

import importlib
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

HERE = os.path.dirname(os.path.abspath(__file__))
LOSS_DIR = os.path.join(HERE, "..", "..", "loss", "testdata")

THRESHOLD = 0.5
CENTER_VARIANCE, SIZE_VARIANCE = 0.1, 0.2
NEG_POS_RATIO = 3
NUM_CLASSES = 21


def hash_values(n, seed, scale):
    """n float32 values on a 2^-24 grid in [-scale/2, scale/2), from an integer hash of the
    flat index; computed exactly (no rounding), so the Go tests rebuild them bit for bit."""
    i = np.arange(n, dtype=np.uint64)
    h = (i * np.uint64(2654435761) + np.uint64(seed)) & np.uint64(0xFFFFFFFF)
    h ^= h >> np.uint64(15)
    h = (h * np.uint64(2246822519)) & np.uint64(0xFFFFFFFF)
    h ^= h >> np.uint64(13)
    u = (h >> np.uint64(8)).astype(np.float64) / 2.0**24
    return ((u - 0.5) * scale).astype(np.float32)


def random_boxes(gen, n, min_size=0.02, max_size=0.6):
    """n corner-form boxes inside the unit square."""
    wh = min_size + torch.rand(n, 2, generator=gen) * (max_size - min_size)
    lo = torch.rand(n, 2, generator=gen) * (1 - wh)
    return torch.cat([lo, lo + wh], dim=1)


def random_labels(gen, n):
    return torch.randint(1, NUM_CLASSES, (n,), generator=gen)


class Ref:
    def __init__(self, checkout):
        sys.path.insert(0, os.path.abspath(checkout))
        self.bu = importlib.import_module("vision.utils.box_utils")
        self.cfg = importlib.import_module("vision.ssd.config.mobilenetv1_ssd_config")
        self.ssd = importlib.import_module("vision.ssd.ssd")
        self.loss = importlib.import_module("vision.nn.multibox_loss")
        self.priors = self.cfg.priors
        self.corner = self.bu.center_form_to_corner_form(self.priors)
        self.match = self.ssd.MatchPrior(self.priors, CENTER_VARIANCE, SIZE_VARIANCE, THRESHOLD)

    def ious(self, gt):
        """[P, G] IoU matrix, as assign_priors computes it."""
        return self.bu.iou_of(gt.unsqueeze(0), self.corner.unsqueeze(1))


def target_tie_boxes(ref, count):
    """Boxes midway between two horizontally adjacent priors of the same shape whose best
    prior is attained by two priors exactly (argmax must pick the first)."""
    out = []
    for p in range(0, 2166 - 6, 7):
        gt = ((ref.corner[p] + ref.corner[p + 6]) / 2).unsqueeze(0)
        iou = ref.ious(gt)[:, 0]
        if (iou == iou.max()).sum() >= 2:
            out.append(gt[0])
            if len(out) == count:
                return torch.stack(out)
    raise RuntimeError("not enough per-target ties found")


def prior_tie_pairs(ref, count):
    """Pairs of boxes mirrored about a prior's vertical axis: some other prior (not the
    forced best one) has the same IoU >= threshold with both, so its best ground truth is a
    tie (argmax must pick the first of the pair)."""
    out = []
    for p in range(0, 2166, 37):
        g1, g2 = ref.corner[p].clone(), ref.corner[p].clone()
        g1[[0, 2]] -= 0.01
        g2[[0, 2]] += 0.01
        pair = torch.stack([g1, g2])
        if pair.min() < 0 or pair.max() > 1:
            continue
        iou = ref.ious(pair)
        _, forced = iou.max(0)
        tie = (iou[:, 0] == iou[:, 1]) & (iou[:, 0] >= THRESHOLD)
        tie[forced] = False
        if tie.any():
            out.append(pair)
            if len(out) == count:
                return torch.cat(out)
    raise RuntimeError("not enough per-prior ties found")


def cases(ref):
    gen = torch.Generator().manual_seed(20240607)
    out = {}
    out["one"] = (random_boxes(gen, 1), random_labels(gen, 1))
    out["five"] = (random_boxes(gen, 5), random_labels(gen, 5))

    twenty = random_boxes(gen, 20)
    twenty[3] = torch.tensor([0.40, 0.41, 0.415, 0.425])  # tiny
    twenty[7] = torch.tensor([0.05, 0.50, 0.95, 0.512])  # thin: best IoU far below the threshold
    twenty[11] = torch.tensor([0.0, 0.0, 1.0, 1.0])  # the whole image
    out["twenty"] = (twenty, random_labels(gen, 20))

    a, b = random_boxes(gen, 2)
    dups = torch.stack([a, a + 1e-4, a, b, b, a - 1e-4, random_boxes(gen, 1)[0]])
    out["dups"] = (dups.clamp(0, 1), torch.tensor([1, 2, 3, 4, 5, 6, 7]))

    ties = torch.cat([target_tie_boxes(ref, 3), prior_tie_pairs(ref, 2)])
    out["ties"] = (ties, torch.arange(1, ties.shape[0] + 1))
    return out


def check_ties(ref, name, gt):
    """Prints how many of the reference's tie-breaking rules a case exercises."""
    iou = ref.ious(gt)
    best_prior, forced = iou.max(0)
    per_target = int(((iou == best_prior.unsqueeze(0)).sum(0) >= 2).sum())
    shared = int(forced.numel() - forced.unique().numel())
    best_gt, _ = iou.max(1)
    tie = ((iou == best_gt.unsqueeze(1)).sum(1) >= 2) & (best_gt >= THRESHOLD)
    tie[forced] = False
    print(f"{name}: G={gt.shape[0]} per-target ties {per_target}, shared forced priors {shared}, "
          f"per-prior ties {int(tie.sum())}")
    return per_target, shared, int(tie.sum())


def match_golden(ref):
    arrays = {"priors": ref.priors.numpy().astype(np.float32)}
    matched = {}
    for name, (gt, labels) in cases(ref).items():
        counts = check_ties(ref, name, gt)
        if name == "ties":
            assert counts[0] >= 3 and counts[2] >= 2, counts
        if name == "dups":
            assert counts[1] >= 2, counts
        loc, lab = ref.match(gt.clone(), labels.clone())
        matched[name] = (loc, lab)
        arrays[f"{name}_gt_boxes"] = gt.numpy().astype(np.float32)
        arrays[f"{name}_gt_labels"] = labels.numpy().astype(np.int16)
        arrays[f"{name}_labels"] = lab.numpy().astype(np.int16)
        arrays[f"{name}_loc"] = loc.numpy().astype(np.float32)
    np.savez_compressed(os.path.join(HERE, "match_golden.npz"), **arrays)
    print("match_golden.npz written")
    return matched


def loss_golden(ref, matched):
    """A batch of 4 images: twenty boxes, the tie case, no box (no positive at all; the
    reference's matcher cannot produce it, so the targets are all background), duplicates.
    Image 1's confidences repeat 4 rows, so its background losses tie massively."""
    order = ["twenty", "ties", None, "dups"]
    num_priors = ref.priors.shape[0]
    labels = torch.zeros(4, num_priors, dtype=torch.long)
    gt_loc = torch.zeros(4, num_priors, 4)
    for i, name in enumerate(order):
        if name is not None:
            loc, lab = matched[name]
            labels[i] = lab
            gt_loc[i] = loc * (lab > 0).unsqueeze(1)  # background rows play no part
    conf = torch.from_numpy(hash_values(4 * num_priors * NUM_CLASSES, 1, 8.0)).reshape(4, num_priors, NUM_CLASSES)
    conf[1] = conf[1, torch.arange(num_priors) % 4]
    loc = torch.from_numpy(hash_values(4 * num_priors * 4, 2, 2.0)).reshape(4, num_priors, 4)
    conf.requires_grad_(True)
    loc.requires_grad_(True)

    with torch.no_grad():
        background = -torch.nn.functional.log_softmax(conf, dim=2)[:, :, 0]
        mask = ref.bu.hard_negative_mining(background.clone(), labels, NEG_POS_RATIO)
        mask1 = ref.bu.hard_negative_mining(background.clone(), labels, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # size_average is deprecated
        criterion = ref.loss.MultiboxLoss(ref.priors, THRESHOLD, NEG_POS_RATIO, CENTER_VARIANCE, SIZE_VARIANCE, "cpu")
        regression, classification = criterion(conf, loc, labels, gt_loc)
    (regression + classification).backward()
    pos = labels > 0
    print(f"loss: positives per image {pos.sum(1).tolist()}, mask {mask.sum(1).tolist()}, "
          f"regression {regression.item():.6f} classification {classification.item():.6f}")
    arrays = {
        "labels": labels.numpy().astype(np.int16),
        "gt_loc": gt_loc.numpy().astype(np.float32),
        "mask": mask.numpy().astype(np.int16),
        "mask_ratio1": mask1.numpy().astype(np.int16),
        "losses": np.array([regression.item(), classification.item()], dtype=np.float32),
        "grad_conf_masked": conf.grad[mask].numpy().astype(np.float32),
        "grad_loc_positive": loc.grad[pos].numpy().astype(np.float32),
        "grad_sums": np.array([conf.grad.double().sum().item(), loc.grad.double().sum().item(),
                               conf.grad.double().abs().sum().item(), loc.grad.double().abs().sum().item()]),
    }
    os.makedirs(LOSS_DIR, exist_ok=True)
    np.savez_compressed(os.path.join(LOSS_DIR, "loss_golden.npz"), **arrays)
    print("loss_golden.npz written")


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    torch.set_num_threads(1)
    ref = Ref(sys.argv[1])
    loss_golden(ref, match_golden(ref))


if __name__ == "__main__":
    main()
