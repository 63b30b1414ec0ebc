#!/usr/bin/env python3
"""Writes the EXIF-orientation fixtures of internal/jpeg (exif_*.jpg) and what
cv2.imread makes of each (exif_golden.json: size and RGB pixels, base64).

Run with Debian's python3 and python3-opencv (or cv2 from pip) from this folder:
    /usr/bin/python3 gen_exif.py
"""
import base64
import json
import struct

import cv2
import numpy as np


def exif_segment(orientation, byte_order, typ=3, make_at=None):
    """An APP1 segment holding a TIFF IFD0 with a Make entry, then an Orientation entry
    of type typ (3 SHORT, 4 LONG)."""
    e = "<" if byte_order == "II" else ">"
    tiff = byte_order.encode() + struct.pack(e + "HI", 42, 8)
    # one entry: tag 0x0112, type SHORT, count 1, value in the first two bytes
    tiff += struct.pack(e + "H", 2)
    if make_at is None:
        tiff += struct.pack(e + "HHI", 0x010F, 2, 4) + b"Go\x00\x00"  # Make, before Orientation
    else:  # a 10-byte Make string at make_at
        tiff += struct.pack(e + "HHII", 0x010F, 2, 10, make_at)
    if typ == 3:
        tiff += struct.pack(e + "HHIH", 0x0112, 3, 1, orientation) + b"\x00\x00"
    else:
        tiff += struct.pack(e + "HHII", 0x0112, 4, 1, orientation)
    tiff += struct.pack(e + "I", 0)
    body = b"Exif\x00\x00" + tiff
    return b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body


def with_segment(jpeg, seg):
    """Puts seg after the JFIF APP0 segment (or right after SOI)."""
    i = 2
    if jpeg[2:4] == b"\xff\xe0":
        i = 4 + struct.unpack(">H", jpeg[4:6])[0]
    return jpeg[:i] + seg + jpeg[i:]


def main():
    h, w = 5, 7
    y, x = np.mgrid[0:h, 0:w]
    bgr = np.stack([x * 36, y * 60, (x + y) * 20 + 10], axis=2).astype(np.uint8)
    ok, enc = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 100])
    assert ok
    colour = enc.tobytes()
    ok, enc = cv2.imencode(".jpg", bgr[:, :, 1], [cv2.IMWRITE_JPEG_QUALITY, 100])
    grey = enc.tobytes()

    files = {}
    for o in range(1, 9):
        files[f"exif_o{o}_mm.jpg"] = with_segment(colour, exif_segment(o, "MM"))
    for o in (3, 6, 8):
        files[f"exif_o{o}_ii.jpg"] = with_segment(colour, exif_segment(o, "II"))
    files["exif_o6_grey.jpg"] = with_segment(grey, exif_segment(6, "II"))
    files["exif_o0_bad.jpg"] = with_segment(colour, exif_segment(0, "MM"))     # out of range
    files["exif_o9_bad.jpg"] = with_segment(colour, exif_segment(9, "II"))     # out of range
    bad = bytearray(exif_segment(6, "MM"))
    bad[10:12] = b"XX"                                                          # byte order
    files["exif_bad_order.jpg"] = with_segment(colour, bytes(bad))

    # OpenCV reads the first APP1 whatever it holds: an XMP packet first hides the EXIF.
    xmp = b"http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta/>"
    xmp_seg = b"\xff\xe1" + struct.pack(">H", len(xmp) + 2) + xmp
    files["exif_after_xmp.jpg"] = with_segment(colour, xmp_seg + exif_segment(6, "MM"))
    # OpenCV reads two bytes of the value whatever the type: LONG 6 is 6 little-endian, 0
    # big-endian.
    files["exif_o6_long_ii.jpg"] = with_segment(colour, exif_segment(6, "II", typ=4))
    files["exif_o6_long_mm.jpg"] = with_segment(colour, exif_segment(6, "MM", typ=4))
    # A Make string outside the segment, before Orientation, hides it from OpenCV.
    files["exif_bad_make.jpg"] = with_segment(colour, exif_segment(6, "MM", make_at=0xFFFF))
    files["exif_good_make.jpg"] = with_segment(colour, exif_segment(6, "MM", make_at=8))
    # An IFD whose entry count runs past the segment.
    trunc = bytearray(exif_segment(6, "MM"))
    trunc[18:20] = struct.pack(">H", 40)
    files["exif_truncated_ifd.jpg"] = with_segment(colour, bytes(trunc))

    golden = {}
    for name, data in sorted(files.items()):
        with open(name, "wb") as f:
            f.write(data)
        # As the reference reads (IMREAD_COLOR: a grey JPEG gives three equal channels;
        # IMREAD_UNCHANGED would also skip the EXIF orientation).
        img = cv2.cvtColor(cv2.imread(name, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        golden[name] = {"width": img.shape[1], "height": img.shape[0],
                        "channels": 3,
                        "pixels": base64.b64encode(np.ascontiguousarray(img).tobytes()).decode()}
    with open("exif_golden.json", "w") as f:
        json.dump({"opencv": cv2.__version__, "images": golden}, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
