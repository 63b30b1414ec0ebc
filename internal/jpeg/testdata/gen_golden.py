"""Writes the JPEG fixtures of internal/jpeg (fixtures/<name>.jpg) and, for each, the pixels
that OpenCV's cv2.imread(path, IMREAD_COLOR) returns, converted to RGB as the reference's
readers do (fixtures/<name>.png, lossless). The tests decode every fixture and require the
PNG's pixels exactly.

Usage: /usr/bin/python3 gen_golden.py [output folder]

Needs Debian's python3-opencv (4.6, linked against libjpeg62-turbo 2.1.5), python3-pil,
cjpeg (libjpeg-turbo-progs) and libturbojpeg0, all from the same libjpeg-turbo. The source
picture is synthetic (gradients, sine waves, sharp edges and noise from a fixed seed), 97x61
pixels so that neither side is a multiple of the 16-pixel MCU.
"""
import ctypes
import io
import os
import subprocess
import sys

import cv2
import numpy as np
from PIL import Image

here = os.path.dirname(os.path.abspath(__file__))
out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "fixtures")
os.makedirs(out, exist_ok=True)

W, H = 97, 61
rng = np.random.default_rng(7)
y, x = np.mgrid[0:H, 0:W].astype(np.float64)
r = 128 + 100 * np.sin(x / 7.0) * np.cos(y / 11.0)
g = 255 * x / (W - 1)
b = np.where((x // 9 + y // 9) % 2 == 0, 230.0, 20.0)  # sharp checker edges
b[y > H * 0.6] = 255 * y[y > H * 0.6] / H
rgb = np.stack([r, g, b], axis=-1) + rng.normal(0, 12, (H, W, 3))
rgb = np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
pic = Image.fromarray(rgb, "RGB")


def write(name, data):
    with open(os.path.join(out, name + ".jpg"), "wb") as f:
        f.write(data)


def pil(img, **kw):
    buf = io.BytesIO()
    img.save(buf, "JPEG", **kw)
    return buf.getvalue()


def cjpeg(*args):
    ppm = io.BytesIO()
    pic.save(ppm, "PPM")
    return subprocess.run(["cjpeg", "-quality", "90", *args], input=ppm.getvalue(),
                          stdout=subprocess.PIPE, check=True).stdout


def turbo_cmyk():
    """A YCCK JPEG (what TurboJPEG writes from CMYK pixels), 4:2:0."""
    tj = ctypes.CDLL("libturbojpeg.so.0")
    tj.tjInitCompress.restype = ctypes.c_void_p
    h = tj.tjInitCompress()
    k = 255 - rgb.max(axis=-1, keepdims=True).astype(np.int32)
    cmy = 255 - rgb.astype(np.int32) - k
    cmyk = np.ascontiguousarray(np.concatenate([cmy, k], axis=-1).astype(np.uint8))
    buf, size = ctypes.POINTER(ctypes.c_ubyte)(), ctypes.c_ulong(0)
    TJPF_CMYK, TJSAMP_420 = 11, 2
    rc = tj.tjCompress2(ctypes.c_void_p(h), cmyk.ctypes.data_as(ctypes.c_void_p), W, 0, H, TJPF_CMYK,
                        ctypes.byref(buf), ctypes.byref(size), TJSAMP_420, 90, 0)
    assert rc == 0, "tjCompress2 failed"
    data = ctypes.string_at(buf, size.value)
    tj.tjFree(buf)
    tj.tjDestroy(ctypes.c_void_p(h))
    return data


write("ycc444", pil(pic, quality=90, subsampling=0))
write("ycc422", pil(pic, quality=90, subsampling=1))
write("ycc420", pil(pic, quality=90, subsampling=2))
write("ycc440", cjpeg("-sample", "1x2,1x1,1x1"))
write("ycc411", cjpeg("-sample", "4x1,1x1,1x1"))
# Sampling factors that match none of TurboJPEG's TJSAMP_* layouts.
write("ycc_mixed", cjpeg("-sample", "2x2,2x1,1x1"))
write("gray", pil(pic.convert("L"), quality=90))
write("progressive420", pil(pic, quality=90, subsampling=2, progressive=True))
write("progressive444", cjpeg("-progressive", "-sample", "1x1,1x1,1x1"))
write("arithmetic", cjpeg("-arithmetic"))
write("restart", cjpeg("-restart", "1"))
write("rgb", cjpeg("-rgb"))
write("cmyk", pil(pic.convert("CMYK"), quality=90))
write("ycck", turbo_cmyk())
# Bytes that are not a marker before the end-of-image marker: libjpeg warns and decodes.
base = pil(pic, quality=90, subsampling=2)
assert base.endswith(b"\xff\xd9")
write("extraneous", base[:-2] + b"\x00\x01\x02\x03\x04\x05\x06\x07" + base[-2:])

for f in sorted(os.listdir(out)):
    if not f.endswith(".jpg"):
        continue
    bgr = cv2.imread(os.path.join(out, f), cv2.IMREAD_COLOR)
    assert bgr is not None and bgr.shape == (H, W, 3), f
    assert cv2.imwrite(os.path.join(out, f[:-4] + ".png"), bgr)  # a BGR Mat is written as RGB
    print(f, "ok")
