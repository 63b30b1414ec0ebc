package loader

import (
	"fmt"
	"image"
	"math/rand/v2"
	"time"

	"github.com/ssdrunner/ssdrunner/components/dataset"
	"github.com/ssdrunner/ssdrunner/components/target"
	"github.com/ssdrunner/ssdrunner/components/transform"
	"github.com/ssdrunner/ssdrunner/internal/torch"
)

// sampleBuf holds one processed sample in Go memory; buffers are pooled per Loader.
type sampleBuf struct {
	image  []float32 // 3*S*S, CHW, normalised
	loc    []float32 // P*4 encoded locations
	labels []int64   // P labels
}

// result is what a worker hands the collector for one position of the epoch's order.
type result struct {
	pos   int // position in the epoch's order
	index int // dataset index
	id    string
	size  [2]int // original width, height
	buf   *sampleBuf
	// bad is set for a bad sample (skipped with SkipBad); fatal for any other failure.
	bad, fatal error
}

// process runs the whole per-sample pipeline for dataset index i of epoch.
func (l *Loader) process(epoch, pos, i int) result {
	r := result{pos: pos, index: i}
	st := &l.stats
	t := time.Now()
	s, err := l.ds.Sample(i)
	t = since(&st.read, t)
	if err != nil {
		r.id = l.sampleID(i)
		r.bad = fmt.Errorf("loader: sample %d (%s): %w", i, r.id, err)
		return r
	}
	r.id = s.ID
	b := s.Image.Bounds()
	r.size = [2]int{b.Dx(), b.Dy()}

	ts, err := l.transform(&s, sampleRand(l.cfg.Seed, epoch, i))
	if err != nil {
		r.bad = fmt.Errorf("loader: sample %d (%s): %w", i, r.id, err)
		return r
	}
	t = since(&st.transform, t)
	if size := l.cfg.ImageSize; ts.W != size || ts.H != size || len(ts.Image) != 3*size*size {
		r.fatal = fmt.Errorf("loader: sample %d (%s): the transform made a %dx%d image, the loader expects %dx%d (image size)",
			i, r.id, ts.W, ts.H, size, size)
		return r
	}

	buf := l.pool.Get().(*sampleBuf)
	if err := l.encode(ts, buf); err != nil {
		l.pool.Put(buf)
		if _, isBad := err.(badBoxes); isBad {
			r.bad = fmt.Errorf("loader: sample %d: %w", i, err)
		} else {
			r.fatal = fmt.Errorf("loader: sample %d (%s): %w", i, r.id, err)
		}
		return r
	}
	t = since(&st.target, t)
	hwcToCHW(buf.image, ts.Image, ts.W*ts.H)
	since(&st.layout, t)
	r.buf = buf
	return r
}

// transform runs the transform on a decoded sample. An 8-bit RGBA image (what
// internal/jpeg decodes) goes to a transform with Apply8 as it is, which converts to
// float32 only the pixels it reads; anything else becomes a float32 Sample (FromImage).
// Both give the same values.
func (l *Loader) transform(s *dataset.Sample, rng *rand.Rand) (*transform.Sample, error) {
	if a8, ok := l.tf.(transform.Apply8); ok {
		if m, ok := s.Image.(*image.RGBA); ok {
			img := transform.RGBA8(m)
			ts := objectsSample(s.ID, img.W, img.H, s.Objects)
			if ok, err := a8.Apply8(ts, img, rng); ok {
				return ts, err
			}
		}
	}
	ts := FromImage(s.ID, s.Image, s.Objects)
	s.Image = nil // the decoded image may be collected while the transform runs
	return ts, l.tf.Apply(ts, rng)
}

// sampleID returns the id of dataset index i for messages, from its annotation.
func (l *Loader) sampleID(i int) string {
	if id, _, err := l.ds.Annotation(i); err == nil && id != "" {
		return id
	}
	return fmt.Sprintf("#%d", i)
}

// badBoxes is a CheckBoxes failure: a bad sample, not a loader failure.
type badBoxes struct{ error }

func (e badBoxes) Unwrap() error { return e.error }

// encode checks the boxes of s (pixels of the final image) relative to the image and
// writes the matched targets into buf.loc and buf.labels.
func (l *Loader) encode(s *transform.Sample, buf *sampleBuf) error {
	g := len(s.Boxes)
	rel := make([][4]float32, g)
	flat := make([]float32, 0, 4*g)
	labels := make([]int64, g)
	w, h := float32(s.W), float32(s.H)
	for k, b := range s.Boxes {
		rel[k] = [4]float32{b[0] / w, b[1] / h, b[2] / w, b[3] / h}
		flat = append(flat, rel[k][:]...)
		labels[k] = int64(s.Labels[k])
	}
	if err := target.CheckBoxes(s.ID, rel); err != nil {
		return badBoxes{err}
	}
	sc := torch.NewScope()
	defer sc.Close()
	gtBoxes, err := torch.FromSlices([]int64{int64(g), 4}, flat)
	if err != nil {
		return err
	}
	sc.T(gtBoxes)
	gtLabels, err := torch.FromSlices([]int64{int64(g)}, labels)
	if err != nil {
		return err
	}
	sc.T(gtLabels)
	loc, lab, err := l.m.Match(gtBoxes, gtLabels)
	if err != nil {
		return err
	}
	sc.Ts(loc, lab)
	if err := torch.CopyTo(loc, buf.loc); err != nil {
		return fmt.Errorf("encoded locations: %w", err)
	}
	if err := torch.CopyTo(lab, buf.labels); err != nil {
		return fmt.Errorf("encoded labels: %w", err)
	}
	return nil
}

// HWCToCHW returns the n pixels of the interleaved RGB image src (a transform's output)
// as three planes, the layout of the network's input.
func HWCToCHW(src []float32, n int) []float32 {
	dst := make([]float32, 3*n)
	hwcToCHW(dst, src, n)
	return dst
}

// hwcToCHW writes the n pixels of the interleaved RGB image src into dst as three planes.
func hwcToCHW(dst, src []float32, n int) {
	r, g, b := dst[:n:n], dst[n:2*n:2*n], dst[2*n:3*n:3*n]
	src = src[: 3*n : 3*n]
	for p := range n {
		q := src[3*p : 3*p+3 : 3*p+3]
		r[p], g[p], b[p] = q[0], q[1], q[2]
	}
}
