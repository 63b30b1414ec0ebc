package reports

import "github.com/wcharczuk/go-chart/v2/drawing"

func rgb(hex uint32) drawing.Color {
	return drawing.Color{R: uint8(hex >> 16), G: uint8(hex >> 8), B: uint8(hex), A: 255}
}

var (
	colBackground = rgb(0xffffff)
	colText       = rgb(0x222222)
	colMuted      = rgb(0x6b6b6b)
	colAxis       = rgb(0x555555)
	colGrid       = rgb(0xe2e2e2)
	colStripe     = rgb(0xf4f5f7)
	colOther      = rgb(0xcfcfcf)
	colMAP        = rgb(0xd62728)
	colBar        = rgb(0x3a76af)
)

// palette is matplotlib's tab10 followed by its lighter tab20 partners, so runs 11–20 stay
// distinguishable in bar charts.
var palette = []drawing.Color{
	rgb(0x1f77b4), rgb(0xff7f0e), rgb(0x2ca02c), rgb(0xd62728), rgb(0x9467bd),
	rgb(0x8c564b), rgb(0xe377c2), rgb(0x7f7f7f), rgb(0xbcbd22), rgb(0x17becf),
	rgb(0xaec7e8), rgb(0xffbb78), rgb(0x98df8a), rgb(0xff9896), rgb(0xc5b0d5),
	rgb(0xc49c94), rgb(0xf7b6d2), rgb(0xc7c7c7), rgb(0xdbdb8d), rgb(0x9edae5),
}

// dashes are the line patterns that, with the first ten colours, tell up to 40 lines apart.
var dashes = [][]float64{nil, {7, 4}, {2, 3}, {9, 3, 2, 3}}

// maxLines is how many lines one line chart can tell apart.
const maxLines = 10 * 4

// lineStyle returns the colour and dash of line i of a chart: colours cycle first, then dashes.
func lineStyle(i int) (drawing.Color, []float64) {
	return palette[i%10], dashes[(i/10)%len(dashes)]
}
