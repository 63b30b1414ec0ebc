package transform

// view is a rectangle of a virtual image: the source image placed with its top-left
// corner at the origin on an unbounded canvas of fill colour, the rectangle at (x0, y0) of
// size w x h, optionally mirrored left-right. It lets the "ssd" transform zoom out, crop
// and flip without building the intermediate images.
type view struct {
	src    []float32
	sw, sh int
	x0, y0 int
	w, h   int
	flip   bool
	fill   [3]float32
}

// wholeView is the view of a whole image.
func wholeView(img []float32, w, h int) *view {
	return &view{src: img, sw: w, sh: h, w: w, h: h}
}

// col maps a view column to its source column, or -1 on the fill.
func (v *view) col(i int) int {
	if v.flip {
		i = v.w - 1 - i
	}
	if sx := v.x0 + i; sx >= 0 && sx < v.sw {
		return sx
	}
	return -1
}

// row maps a view row to its source row, or -1 on the fill.
func (v *view) row(j int) int {
	if sy := v.y0 + j; sy >= 0 && sy < v.sh {
		return sy
	}
	return -1
}

// pixel returns the view pixel at source offset o of row (o = -1 or row = nil: fill).
func (v *view) pixel(row []float32, o int) (float32, float32, float32) {
	if row == nil || o < 0 {
		return v.fill[0], v.fill[1], v.fill[2]
	}
	return row[o], row[o+1], row[o+2]
}

// sourceRow returns the source row of view row j, nil on the fill.
func (v *view) sourceRow(j int) []float32 {
	sy := v.row(j)
	if sy < 0 {
		return nil
	}
	return v.src[sy*v.sw*3 : (sy+1)*v.sw*3]
}
