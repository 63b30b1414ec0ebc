package transform

// The reference converts float32 images between RGB and HSV with OpenCV's cvtColor
// (COLOR_RGB2HSV / COLOR_HSV2RGB: hue in degrees [0, 360], saturation and value unscaled).
// These functions follow the arithmetic of OpenCV's vectorised float path (which converts
// all but the last few pixels of an image), operation by operation in float32, including
// its fused multiply-adds; on random inputs, negative and above 255 included, they equal
// OpenCV 4.6's cvtColor bit for bit (see the golden tests). Out-of-range pixels are not
// special-cased, as in OpenCV: a pixel made negative by the brightness shift comes back
// from the round trip changed (its hue is measured from the least negative channel).

const (
	// fltEpsilon is C's FLT_EPSILON.
	fltEpsilon float32 = 1.1920929e-07
	// hsvToSector is OpenCV's 6.f/360.f, and oneSixth its 1.0f/6.0f (float32 values).
	hsvToSector float32 = 0.016666668
	oneSixth    float32 = 0.16666667
)

// rgbToHSV is cvtColor(COLOR_RGB2HSV) of one float32 pixel.
func rgbToHSV(r, g, b float32) (h, s, v float32) {
	// The maximum, the minimum and which channel is the maximum (red before green before
	// blue on ties, as OpenCV). Branches, not selects: in photographs the order of the
	// channels changes rarely from one pixel to the next, so they are well predicted.
	mx, mn, k := r, r, 0
	if g > mx {
		mx, k = g, 1
	} else if g < mn {
		mn = g
	}
	if b > mx {
		mx, k = b, 2
	} else if b < mn {
		mn = b
	}
	diff := mx - mn
	abs := mx
	if abs < 0 {
		abs = -abs
	}
	s = diff / (abs + fltEpsilon)
	rev := 60 / (diff + fltEpsilon)
	var hd, base float32
	switch k {
	case 0:
		hd = g - b
		if g < b {
			base = 360
		}
	case 1:
		hd, base = b-r, 120
	default:
		hd, base = r-g, 240
	}
	// OpenCV: fma(hd, rev, base) * (360 * (1/360.f)); the scale is exactly 1 in float32.
	// The float64 product is exact, so the sum is rounded once to float64, then to float32.
	return float32(float64(hd)*float64(rev) + float64(base)), s, mx
}

// hsvToRGB is cvtColor(COLOR_HSV2RGB) of one float32 pixel (hue in degrees).
func hsvToRGB(h, s, v float32) (r, g, b float32) {
	h *= hsvToSector
	pre := float32(int32(h)) // truncation toward zero, as OpenCV's v_trunc
	f := h - pre
	// OpenCV's sector is pre - trunc(pre/6)*6 (pre itself for hues in [0, 360)); it then
	// selects with comparisons, so sectors below 1 act as 0 and above 4 as 5.
	sector := pre
	if pre < 0 || pre >= 6 {
		sector = pre - float32(int32(pre*oneSixth))*6
	}
	// OpenCV's four candidates are v, v*(1-s), v*(1-s*f) and v*(1-s*(1-f)); its compiler
	// fuses 1-s*x into one rounding, reproduced with an exact float64 product. Only the
	// candidates the sector uses are computed.
	fs := float64(s)
	p := v * (1 - s)
	switch {
	case sector < 1:
		return v, v * float32(1-fs*float64(1-f)), p
	case sector == 1:
		return v * float32(1-fs*float64(f)), v, p
	case sector == 2:
		return p, v, v * float32(1-fs*float64(1-f))
	case sector == 3:
		return p, v * float32(1-fs*float64(f)), v
	case sector == 4:
		return v * float32(1-fs*float64(1-f)), p, v
	default:
		return v, p, v * float32(1-fs*float64(f))
	}
}
