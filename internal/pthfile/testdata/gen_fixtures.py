"""Writes the torch.save files that internal/pthfile's tests read, and what they hold.

    python3 gen_fixtures.py OUT_DIR

zip.pth and legacy.pth hold the same state_dict in torch.save's two formats (the zip
archive of PyTorch 1.6+ and the legacy stream of the versions before, which the PyTorch
SSD project's published models use): every storage class a state_dict can have, a
transposed view and a slice sharing one storage with a third entry, and a 0-dim long
(BatchNorm's num_batches_tracked). param.pth is a plain dict of an nn.Parameter (saved
through torch._utils._rebuild_parameter). expected.json gives each entry's dtype, shape
and values in row-major order.
"""
import collections
import json
import os
import sys

import torch


def main(out):
    torch.manual_seed(0)
    base = torch.arange(12, dtype=torch.float32).reshape(3, 4) / 8 - 0.5
    sd = collections.OrderedDict()
    sd["conv.weight"] = torch.randn(2, 3, 1, 1)
    sd["base"] = base
    sd["base_t"] = base.t()  # a strided view of base's storage
    sd["base_tail"] = base[1:, 2:]  # a view at a storage offset
    sd["double"] = torch.tensor([1.5, -2.25, 1e-300], dtype=torch.float64)
    sd["half"] = torch.tensor([0.5, -1.0, 65504.0, 6.1e-5, 1e-7], dtype=torch.float16)
    sd["bfloat"] = torch.tensor([1.0, -3.5, 1e30], dtype=torch.bfloat16)
    sd["bn.num_batches_tracked"] = torch.tensor(7, dtype=torch.int64)
    sd["long"] = torch.tensor([[-(2**40), 3]], dtype=torch.int64)
    sd["int"] = torch.tensor([-5, 6], dtype=torch.int32)
    sd["short"] = torch.tensor([-300], dtype=torch.int16)
    sd["char"] = torch.tensor([-7, 8], dtype=torch.int8)
    sd["byte"] = torch.tensor([0, 255], dtype=torch.uint8)
    sd["bool"] = torch.tensor([True, False, True])
    sd["empty"] = torch.zeros(0, 4)
    torch.save(sd, os.path.join(out, "zip.pth"))
    torch.save(sd, os.path.join(out, "legacy.pth"), _use_new_zipfile_serialization=False)
    p = torch.nn.Parameter(torch.tensor([[0.25, -0.75]]))
    torch.save({"p": p}, os.path.join(out, "param.pth"))

    def entry(x):
        x = x.detach()
        vals = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
        return {
            "dtype": str(x.dtype).replace("torch.", ""),
            "shape": list(x.shape),
            "values": [v if not isinstance(v, bool) else int(v) for v in vals.reshape(-1).tolist()],
        }

    exp = {
        "zip.pth": {k: entry(v) for k, v in sd.items()},
        "legacy.pth": {k: entry(v) for k, v in sd.items()},
        "param.pth": {"p": entry(p)},
    }
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(exp, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1])
