"""Writes golden.json: the learning rates PyTorch's schedulers give, for the Go tests of
components/scheduler. Run with Debian's python3-torch 1.13 (no other argument needed):

    /usr/bin/python3 components/scheduler/testdata/gen_golden.py [out.json]

Epoch cases record the rate each epoch trains with, using the modern loop order
(train with the current rate: optimizer.step(), then scheduler.step() at the end of the epoch).
Step cases step the schedulers after every optimizer step; their lr lists are indexed by the
global step k = epoch*steps_per_epoch + step.
"""
import json
import os
import sys
import warnings

import torch
from torch.optim import lr_scheduler as S

warnings.filterwarnings("ignore")
EPOCHS = 220


def run(base, make, n):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=base)
    scheds = make(opt)
    out = []
    for _ in range(n):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        for s in scheds:
            s.step()
    return out


def epoch_case(name, typ, options, base, make):
    return {"name": name, "type": typ, "options": options, "base": base,
            "steps_per_epoch": 0, "lr": run(base, make, EPOCHS)}


def step_case(name, typ, options, base, spe, n, make):
    return {"name": name, "type": typ, "options": options, "base": base,
            "steps_per_epoch": spe, "lr": run(base, make, n)}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden.json")
    cases = [
        epoch_case("cosine_200", "cosine", {"t_max": 200}, 0.01,
                   lambda o: [S.CosineAnnealingLR(o, T_max=200)]),
        epoch_case("cosine_200_eta_min", "cosine", {"t_max": 200, "eta_min": 1e-4}, 0.01,
                   lambda o: [S.CosineAnnealingLR(o, T_max=200, eta_min=1e-4)]),
        epoch_case("multi_step_80_100", "multi_step", {"milestones": [80, 100], "gamma": 0.1}, 1e-3,
                   lambda o: [S.MultiStepLR(o, milestones=[80, 100], gamma=0.1)]),
        epoch_case("multi_step_120_160", "multi_step", {"milestones": [120, 160]}, 1e-3,
                   lambda o: [S.MultiStepLR(o, milestones=[120, 160], gamma=0.1)]),
        epoch_case("step_30", "step", {"step_size": 30}, 0.01,
                   lambda o: [S.StepLR(o, step_size=30, gamma=0.1)]),
        epoch_case("step_7_half", "step", {"step_size": 7, "gamma": 0.5}, 0.05,
                   lambda o: [S.StepLR(o, step_size=7, gamma=0.5)]),
        epoch_case("constant", "constant", {}, 0.02, lambda o: []),
        # Warmup, stepped per optimizer step (10 steps per epoch).
        step_case("constant_linear_warmup", "constant", {"warmup": {"epochs": 5}}, 0.01, 10, 80,
                  lambda o: [S.LinearLR(o, start_factor=0.1, total_iters=50)]),
        step_case("constant_constant_warmup", "constant",
                  {"warmup": {"epochs": 1.5, "start_factor": 0.25, "method": "constant"}}, 0.01, 10, 40,
                  lambda o: [S.ConstantLR(o, factor=0.25, total_iters=15)]),
        step_case("cosine_per_step_warmup", "cosine",
                  {"t_max": 20, "per_step": True, "warmup": {"epochs": 3, "start_factor": 0.2}}, 0.01, 10, 250,
                  lambda o: [S.LinearLR(o, start_factor=0.2, total_iters=30),
                             S.CosineAnnealingLR(o, T_max=200)]),
    ]
    with open(out, "w") as f:
        json.dump({"torch": torch.__version__, "cases": cases}, f, indent=None)
        f.write("\n")


if __name__ == "__main__":
    main()
