package train

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"io"
	"math"
	"path/filepath"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"

	box "github.com/ssdrunner/ssdrunner/components/boxes"
	"github.com/ssdrunner/ssdrunner/internal/boxdraw"
	"github.com/ssdrunner/ssdrunner/internal/torch"
	"github.com/ssdrunner/ssdrunner/runner/loader"
)

// writeBatchPicture draws the first augmented training batch (up to 16 images) with the
// boxes the model will learn and their class names into charts/train_batch0.jpg, so that
// a wrong dataset, label map or augmentation shows at a glance. The boxes are recovered
// from the batch's encoded targets (every positive prior decodes to its ground truth), so
// the picture shows exactly what the loss sees.
func (t *trainer) writeBatchPicture() error {
	it := t.train.Epoch(context.Background(), 0)
	defer it.Close()
	b, err := it.Next()
	if err == io.EOF {
		return nil
	}
	if err != nil {
		return err
	}
	defer b.Close()
	img, err := t.drawBatch(b)
	if err != nil {
		return err
	}
	return writeAtomicFunc(filepath.Join(t.files.chartsDir, "train_batch0.jpg"), func(w io.Writer) error {
		return jpeg.Encode(w, img, &jpeg.Options{Quality: 90})
	})
}

func (t *trainer) drawBatch(b *loader.Batch) (image.Image, error) {
	n := min(b.Len(), 16)
	size := t.run.ImageSize
	p := int(t.run.Matcher.NumPriors())
	pixels := make([]float32, b.Len()*3*size*size)
	if err := torch.CopyTo(b.Images, pixels); err != nil {
		return nil, err
	}
	labels := make([]int64, b.Len()*p)
	if err := torch.CopyTo(b.Labels, labels); err != nil {
		return nil, err
	}
	corners := make([]float32, b.Len()*p*4)
	err := torch.NoGrad(func() error {
		s := torch.NewScope()
		defer s.Close()
		c, err := box.Decode(b.Loc, t.run.Priors, t.run.Variances)
		if err != nil {
			return err
		}
		s.T(c)
		cc, err := box.CenterToCorner(c)
		if err != nil {
			return err
		}
		s.T(cc)
		return torch.CopyTo(cc, corners)
	})
	if err != nil {
		return nil, err
	}
	mean, std := channelValues(t.run.TrainInfo.Mean, 0), channelValues(t.run.TrainInfo.Std, 1)
	cols := min(n, 4)
	rows := (n + cols - 1) / cols
	out := image.NewRGBA(image.Rect(0, 0, cols*size, rows*size))
	draw.Draw(out, out.Bounds(), image.NewUniform(color.Black), image.Point{}, draw.Src)
	face := basicfont.Face7x13
	for i := range n {
		ox, oy := (i%cols)*size, (i/cols)*size
		plane := size * size
		base := i * 3 * plane
		for y := range size {
			for x := range size {
				var c [3]uint8
				for ch := range 3 {
					v := float64(pixels[base+ch*plane+y*size+x])*std[ch] + mean[ch]
					c[ch] = uint8(math.Round(math.Min(math.Max(v, 0), 255)))
				}
				out.SetRGBA(ox+x, oy+y, color.RGBA{c[0], c[1], c[2], 255})
			}
		}
		seen := map[[4]int]bool{}
		for j := range p {
			lab := labels[i*p+j]
			if lab <= 0 {
				continue
			}
			k := (i*p + j) * 4
			r := [4]int{int(math.Round(float64(corners[k]) * float64(size))), int(math.Round(float64(corners[k+1]) * float64(size))),
				int(math.Round(float64(corners[k+2]) * float64(size))), int(math.Round(float64(corners[k+3]) * float64(size)))}
			key := [4]int{r[0], r[1], r[2], r[3]}
			if seen[key] {
				continue
			}
			seen[key] = true
			col := boxdraw.ClassColor(int(lab))
			rect := image.Rect(ox+r[0], oy+r[1], ox+r[2], oy+r[3]).Intersect(image.Rect(ox, oy, ox+size, oy+size))
			boxdraw.StrokeRect(out, rect, col)
			name := fmt.Sprint(lab)
			if int(lab) < len(t.run.Classes) {
				name = t.run.Classes[lab]
			}
			d := &font.Drawer{Dst: out, Src: image.NewUniform(col), Face: face,
				Dot: fixed.P(rect.Min.X+2, max(rect.Min.Y-2, oy+11))}
			d.DrawString(name)
		}
	}
	return out, nil
}

// channelValues expands a 1- or 3-value mean or std to 3 channels (def when absent).
func channelValues(v []float64, def float64) [3]float64 {
	switch len(v) {
	case 1:
		return [3]float64{v[0], v[0], v[0]}
	case 3:
		return [3]float64{v[0], v[1], v[2]}
	}
	return [3]float64{def, def, def}
}
