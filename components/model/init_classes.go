package model

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"

	gnn "github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/components/nn"
	"github.com/ssdrunner/ssdrunner/internal/torch"
)

// classLayer is the class-dependent convolution of one classification header: the last
// convolution of classification_headers.<i> (the whole header for the plain SSD head,
// the pointwise convolution of an SSDLite one). Its output channel box·C + class holds
// the logit of that class for that anchor (the reference's compute_header layout).
type classLayer struct {
	weight, bias string // bias is "" for a convolution without bias
	boxes        int64  // anchors per location
}

func (l classLayer) names() []string {
	if l.bias == "" {
		return []string{l.weight}
	}
	return []string{l.weight, l.bias}
}

// classLayers finds the class-dependent convolution of every classification header, by
// name and shape: under classification_headers.<i>, the 4-D weight with the highest
// sequence index.
func (m *SSD) classLayers() ([]classLayer, error) {
	const prefix = "classification_headers."
	type pick struct {
		seq   int
		name  string
		shape []int64
	}
	best := map[string]pick{}
	vars := m.vs.Variables()
	for name, t := range vars {
		rest, ok := strings.CutPrefix(name, prefix)
		if !ok || !strings.HasSuffix(rest, ".weight") {
			continue
		}
		shape := t.MustSize()
		if len(shape) != 4 {
			continue
		}
		parts := strings.Split(strings.TrimSuffix(rest, ".weight"), ".")
		seq := -1 // the header is the convolution itself
		if len(parts) == 2 {
			n, err := strconv.Atoi(parts[1])
			if err != nil {
				return nil, fmt.Errorf("classification header variable %q: unexpected name", name)
			}
			seq = n
		} else if len(parts) != 1 {
			return nil, fmt.Errorf("classification header variable %q: unexpected name", name)
		}
		if p, ok := best[parts[0]]; !ok || seq > p.seq {
			best[parts[0]] = pick{seq, name, shape}
		}
	}
	if len(best) == 0 {
		return nil, fmt.Errorf("the model has no classification header convolutions")
	}
	headers := make([]string, 0, len(best))
	for h := range best {
		headers = append(headers, h)
	}
	sort.Slice(headers, func(i, j int) bool {
		a, _ := strconv.Atoi(headers[i])
		b, _ := strconv.Atoi(headers[j])
		return a < b
	})
	out := make([]classLayer, 0, len(headers))
	for _, h := range headers {
		p := best[h]
		if p.shape[0]%int64(m.NumClasses) != 0 {
			return nil, fmt.Errorf("%s has %d output channels, not a multiple of the %d classes", p.name, p.shape[0], m.NumClasses)
		}
		l := classLayer{weight: p.name, boxes: p.shape[0] / int64(m.NumClasses)}
		if b := strings.TrimSuffix(p.name, "weight") + "bias"; hasVar(vars, b) {
			l.bias = b
		}
		out = append(out, l)
	}
	return out, nil
}

func hasVar(vars map[string]ts.Tensor, name string) bool {
	_, ok := vars[name]
	return ok
}

// detectClasses reads the file's class count from its class-dependent weights: output
// channels / anchors per location, the other dimensions as the model's. It returns 0
// when no layer is readable (missing, or of another kind) and an error when readable
// layers disagree.
func detectClasses(named map[string]*ts.Tensor, layers []classLayer, root *gnn.Path) (int, error) {
	found := 0
	var where string
	for _, l := range layers {
		src, ok := named[l.weight]
		if !ok {
			continue
		}
		dst, err := root.Get(l.weight)
		if err != nil {
			return 0, err
		}
		fs := src.MustSize()
		if !sameTail(dst.MustSize(), fs) || fs[0]%l.boxes != 0 {
			continue
		}
		c := int(fs[0] / l.boxes)
		if found != 0 && c != found {
			return 0, fmt.Errorf("its classification headers disagree on the class count: %s gives %d, %s gives %d", where, found, l.weight, c)
		}
		found, where = c, l.weight
	}
	return found, nil
}

// sameTail reports whether two shapes have the same rank and agree beyond dimension 0.
func sameTail(a, b []int64) bool {
	return len(a) == len(b) && len(a) > 0 && slices.Equal(a[1:], b[1:])
}

// matchClasses maps our classes to theirs by name (trimmed, case-insensitive);
// BACKGROUND (index 0) always maps to BACKGROUND. It returns the copies in our order
// and the names of ours found nowhere in theirs.
func matchClasses(ours, theirs []string) (copies []ClassCopy, fresh []string, err error) {
	index := map[string]int{}
	for i, n := range theirs[1:] {
		k := strings.ToLower(strings.TrimSpace(n))
		if _, dup := index[k]; dup {
			return nil, nil, fmt.Errorf("pretrained labels: class %q appears twice", n)
		}
		index[k] = i + 1
	}
	seen := map[string]bool{}
	copies = append(copies, ClassCopy{Name: ours[0], From: 0, To: 0})
	for to, n := range ours[1:] {
		k := strings.ToLower(strings.TrimSpace(n))
		if seen[k] {
			return nil, nil, fmt.Errorf("model labels: class %q appears twice", n)
		}
		seen[k] = true
		if from, ok := index[k]; ok {
			copies = append(copies, ClassCopy{Name: n, From: from, To: to + 1})
		} else {
			fresh = append(fresh, n)
		}
	}
	return copies, fresh, nil
}

// identity reports whether copies map every class to the same index.
func identity(copies []ClassCopy) bool {
	for _, c := range copies {
		if c.From != c.To {
			return false
		}
	}
	return true
}

// copyClassRows copies, for every anchor a, channel a·oldC + from[k] of src into
// channel a·newC + to[k] of dst (dimension 0 of weights [boxes·C, …] and biases
// [boxes·C]); dst's other channels keep their values. Shapes must have been checked.
func copyClassRows(dst, src *ts.Tensor, boxes, oldC, newC int64, from, to []int64) error {
	s := torch.NewScope()
	defer s.Close()
	shape := dst.MustSize()
	rest := int64(1)
	for _, d := range shape[1:] {
		rest *= d
	}
	dev := dst.MustDevice()
	fromT := s.T(ts.MustOfSlice(from).MustTo(src.MustDevice(), true))
	toT := s.T(ts.MustOfSlice(to).MustTo(dev, true))
	old := s.T(src.MustReshape([]int64{boxes, oldC, rest}, false))
	sel := s.T(old.MustIndexSelect(1, fromT, false))
	sel = s.T(sel.MustTo(dev, false).MustTotype(dst.DType(), true))
	cur := s.T(dst.MustDetach(false).MustReshape([]int64{boxes, newC, rest}, true))
	upd := s.T(cur.MustIndexCopy(1, toT, sel, false))
	return copyNoGrad(dst, s.T(upd.MustView(shape, false)))
}

// xavierInit refills the convolution weights (4-D "….weight" variables) of the given
// top-level modules from U(±√(6/(fan_in+fan_out))), torch's xavier_uniform_ with gain
// 1 (fan_in = in/groups·k·k, fan_out = out·k·k), which the reference's _xavier_init_
// applies to every nn.Conv2d; biases and batch norms are left as they are. It returns
// the names of the refilled variables.
func (m *SSD) xavierInit(modules ...string) (names []string, err error) {
	root := m.vs.Root()
	for _, name := range m.VariableNames() {
		mod, _, _ := strings.Cut(name, ".")
		if !slices.Contains(modules, mod) || !strings.HasSuffix(name, ".weight") {
			continue
		}
		t, err := root.Get(name)
		if err != nil {
			return names, err
		}
		shape := t.MustSize()
		if len(shape) != 4 {
			continue
		}
		rf := shape[2] * shape[3]
		bound := math.Sqrt(6 / float64(shape[1]*rf+shape[0]*rf))
		err = torch.NoGrad(func() (err error) {
			defer torch.Recover(&err)
			nn.Uniform{Lo: -bound, Up: bound}.Set(t)
			return nil
		})
		if err != nil {
			return names, fmt.Errorf("initialising %q: %w", name, err)
		}
		names = append(names, name)
	}
	return names, nil
}
