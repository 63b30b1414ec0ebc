"""Writes golden.json: parameters after each of 5 steps of torch.optim optimizers, for the
Go tests of components/optimizer. Run with Debian's python3-torch 1.13 (no other argument):

    /usr/bin/python3 components/optimizer/testdata/gen_golden.py [out.json]

Six float32 parameters in two groups: p0, p1, p5 in group 0; p2, p3, p4 in group 1
(p5 has 72 values, enough for libtorch's vectorised loops, the others fewer than 16). p3 is
frozen (requires_grad False, never has a gradient); p4 has no gradient in steps 0 and 1
(its state starts at step 2). The gradients are fixed random tensors, set directly. The
groups' learning rates change before step 3 (as a schedule would).
"""
import json
import os
import sys

import torch

STEPS = 5
SHAPES = [[3, 4], [4], [2, 3], [5], [3], [9, 8]]
FROZEN = 3
LATE = 4  # gets gradients from step 2 on
GROUPS = [[0, 1, 5], [2, 3, 4]]


def flat(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def lrs_for(base):
    """Per-step learning rate of each group: the base until step 3, then scaled."""
    return [[lr * (1 if s < 3 else f) for lr, f in zip(base, (0.5, 0.1))] for s in range(STEPS)]


CASES = [
    # name, type, options (as the Go side passes them), torch class, torch kwargs, [(lr, wd) per group]
    ("sgd_plain", "sgd", {"lr": 0.1}, torch.optim.SGD, {}, [(0.1, 1e-2), (0.05, 0.0)]),
    ("sgd_momentum", "sgd", {"lr": 0.1, "momentum": 0.9, "weight_decay": 5e-4}, torch.optim.SGD,
     {"momentum": 0.9}, [(0.1, 5e-4), (0.05, 0.0)]),
    ("sgd_nesterov", "sgd", {"lr": 0.1, "momentum": 0.9, "nesterov": True}, torch.optim.SGD,
     {"momentum": 0.9, "nesterov": True}, [(0.1, 1e-3), (0.2, 0.0)]),
    ("sgd_dampening", "sgd", {"lr": 0.1, "momentum": 0.8, "dampening": 0.3}, torch.optim.SGD,
     {"momentum": 0.8, "dampening": 0.3}, [(0.1, 0.0), (0.05, 1e-2)]),
    ("adam", "adam", {"lr": 0.01}, torch.optim.Adam, {}, [(0.01, 1e-2), (0.002, 0.0)]),
    ("adam_amsgrad", "adam", {"lr": 0.01, "betas": [0.8, 0.99], "eps": 1e-6, "amsgrad": True}, torch.optim.Adam,
     {"betas": (0.8, 0.99), "eps": 1e-6, "amsgrad": True}, [(0.01, 0.0), (0.003, 1e-3)]),
    ("adamw", "adamw", {"lr": 0.01}, torch.optim.AdamW, {}, [(0.01, 5e-2), (0.002, 0.0)]),
    ("adamw_amsgrad", "adamw", {"lr": 0.01, "amsgrad": True}, torch.optim.AdamW,
     {"amsgrad": True}, [(0.01, 1e-2), (0.005, 0.1)]),
    ("rmsprop", "rmsprop", {}, torch.optim.RMSprop, {}, [(0.01, 0.0), (0.001, 1e-2)]),
    ("rmsprop_centered_momentum", "rmsprop", {"alpha": 0.9, "momentum": 0.9, "centered": True},
     torch.optim.RMSprop, {"alpha": 0.9, "momentum": 0.9, "centered": True}, [(0.01, 1e-3), (0.002, 0.0)]),
]


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden.json")
    gen = torch.Generator().manual_seed(20240607)
    init = [torch.randn(s, generator=gen) for s in SHAPES]
    grads = []
    for s in range(STEPS):
        row = []
        for i, shape in enumerate(SHAPES):
            g = torch.randn(shape, generator=gen)
            row.append(None if i == FROZEN or (i == LATE and s < 2) else g)
        grads.append(row)

    cases = []
    for name, typ, options, cls, kwargs, hyper in CASES:
        params = [torch.nn.Parameter(t.clone(), requires_grad=(i != FROZEN)) for i, t in enumerate(init)]
        groups = [{"params": [params[i] for i in idx], "lr": lr, "weight_decay": wd}
                  for idx, (lr, wd) in zip(GROUPS, hyper)]
        opt = cls(groups, **kwargs)
        lrs = lrs_for([lr for lr, _ in hyper])
        after = []
        for s in range(STEPS):
            for g, lr in zip(opt.param_groups, lrs[s]):
                g["lr"] = lr
            for p, g in zip(params, grads[s]):
                if g is not None:
                    p.grad = g.clone()
            opt.step()
            after.append([flat(p) for p in params])
        cases.append({
            "name": name, "type": typ, "options": options,
            "groups": [{"params": idx, "lr": lr, "weight_decay": wd} for idx, (lr, wd) in zip(GROUPS, hyper)],
            "lrs": lrs, "after": after,
        })
    doc = {
        "torch": torch.__version__, "shapes": SHAPES, "frozen": FROZEN,
        "init": [flat(t) for t in init],
        "grads": [[None if g is None else flat(g) for g in row] for row in grads],
        "cases": cases,
    }
    with open(out, "w") as f:
        json.dump(doc, f)
        f.write("\n")


if __name__ == "__main__":
    main()
