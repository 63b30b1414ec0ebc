package jpeg

/*
#cgo LDFLAGS: -lturbojpeg
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

// ssd_msg copies the message of the last TurboJPEG failure on handle into msg. It must run
// in the same C call as the failing function: TurboJPEG keeps libjpeg's messages in a
// thread-local buffer, and a goroutine may change threads between two cgo calls.
static void ssd_msg(tjhandle handle, char *msg, size_t n, int *warning) {
	const char *m = tjGetErrorStr2(handle);
	snprintf(msg, n, "%s", m != NULL && m[0] != 0 ? m : "unknown TurboJPEG error");
	*warning = handle != NULL && tjGetErrorCode(handle) == TJERR_WARNING;
}

// ssd_header reads the header of buf. It returns 0 on success, else -1 with the message in
// msg. TurboJPEG 2.1's tjDecompressHeader3 fails on images whose sampling factors match none
// of its TJSAMP_* layouts after it has read the whole header and set every output (then
// subsampling is -1); tjDecompress2 decodes such images, as libjpeg does, so that failure
// alone is ignored.
static int ssd_header(const unsigned char *buf, unsigned long size, int *w, int *h, int *cs,
		char *msg, size_t n, int *warning) {
	int subsamp = -2, rc;
	tjhandle handle = tjInitDecompress();
	*w = *h = 0;
	*cs = -1;
	*warning = 0;
	if (handle == NULL) {
		ssd_msg(NULL, msg, n, warning);
		return -1;
	}
	rc = tjDecompressHeader3(handle, buf, size, w, h, &subsamp, cs);
	if (rc != 0) {
		ssd_msg(handle, msg, n, warning);
		if (subsamp == -1 && !*warning && *cs >= 0 && *w > 0 && *h > 0) {
			rc = 0;
		}
	} else if (subsamp == -2) {
		// A datastream that ends before any frame (tables only, or cut short): TurboJPEG
		// returns 0 and leaves the outputs unset.
		rc = -1;
		if (tjGetErrorCode(handle) == TJERR_WARNING) {
			ssd_msg(handle, msg, n, warning);
		} else {
			snprintf(msg, n, "JPEG datastream contains no image");
		}
	}
	tjDestroy(handle);
	return rc;
}

// ssd_decode decodes buf into dst (pitch bytes a row) as pixel format pf. It returns 0 on
// success, else -1 with the message in msg; *warning tells whether libjpeg had reported a
// warning (TJFLAG_STOPONWARNING makes the first one stop the decode).
static int ssd_decode(const unsigned char *buf, unsigned long size, unsigned char *dst,
		int w, int pitch, int h, int pf, int flags, char *msg, size_t n, int *warning) {
	int rc;
	tjhandle handle = tjInitDecompress();
	*warning = 0;
	if (handle == NULL) {
		ssd_msg(NULL, msg, n, warning);
		return -1;
	}
	rc = tjDecompress2(handle, buf, size, dst, w, pitch, h, pf, flags);
	if (rc != 0) {
		ssd_msg(handle, msg, n, warning);
	}
	tjDestroy(handle);
	return rc;
}
*/
import "C"

import (
	"regexp"
	"unsafe"
)

// Output pixel formats.
const (
	pixelRGBA = C.TJPF_RGBA
	pixelGray = C.TJPF_GRAY
	pixelCMYK = C.TJPF_CMYK
)

// msgSize is the size of the message buffers (libjpeg's JMSG_LENGTH_MAX is 200).
const msgSize = 256

// header returns the size and colour space of the JPEG image in data (not empty), or a
// failure message.
func header(data []byte) (w, h int, cs ColorSpace, msg string) {
	var cw, ch, ccs, warning C.int
	var buf [msgSize]C.char
	if C.ssd_header((*C.uchar)(unsafe.Pointer(&data[0])), C.ulong(len(data)), &cw, &ch, &ccs, &buf[0], msgSize, &warning) != 0 {
		return 0, 0, 0, C.GoString(&buf[0])
	}
	switch ccs {
	case C.TJCS_RGB:
		cs = RGB
	case C.TJCS_YCbCr:
		cs = YCbCr
	case C.TJCS_GRAY:
		cs = Gray
	case C.TJCS_CMYK:
		cs = CMYK
	case C.TJCS_YCCK:
		cs = YCCK
	default:
		return 0, 0, 0, "unknown colour space"
	}
	return int(cw), int(ch), cs, ""
}

// eoiExtraneous matches libjpeg's warning (JWRN_EXTRANEOUS_DATA) for bytes that are not a
// marker found before the end-of-image marker.
var eoiExtraneous = regexp.MustCompile(`^Corrupt JPEG data: [0-9]+ extraneous bytes before marker 0xd9$`)

// decode decodes data (not empty) into dst, w×h pixels of pixel format pf, stride bytes a
// row, and returns "" or a failure message.
//
// libjpeg's warnings make it fail too (it stops at the first one, so damaged files fail
// fast), except extraneous bytes before the end-of-image marker: when that is the first
// warning, the image is decoded again without stopping; TurboJPEG records the first warning
// only, and that one comes when every scan has been read, so no other warning can precede
// or follow it. Progressive images with more than 500 scans are refused
// (TJFLAG_LIMITSCANS): no encoder writes them, and decoding them can take minutes.
func decode(data []byte, dst []byte, w, stride, h int, pf C.int) string {
	const flags = C.TJFLAG_LIMITSCANS
	msg, warning := decompress(data, dst, w, stride, h, pf, flags|C.TJFLAG_STOPONWARNING)
	if warning && eoiExtraneous.MatchString(msg) {
		if again, _ := decompress(data, dst, w, stride, h, pf, flags); again != msg {
			return again
		}
		return ""
	}
	return msg
}

// decompress runs tjDecompress2 and returns its failure message ("" on success) and whether
// the failure was a warning.
func decompress(data []byte, dst []byte, w, stride, h int, pf, flags C.int) (string, bool) {
	var warning C.int
	var buf [msgSize]C.char
	if C.ssd_decode((*C.uchar)(unsafe.Pointer(&data[0])), C.ulong(len(data)), (*C.uchar)(unsafe.Pointer(&dst[0])),
		C.int(w), C.int(stride), C.int(h), pf, flags, &buf[0], msgSize, &warning) == 0 {
		return "", false
	}
	return C.GoString(&buf[0]), warning != 0
}
