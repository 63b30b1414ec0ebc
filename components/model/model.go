// Package model composes a backbone and a head into an SSD whose variables carry the
// reference's state_dict names, and loads reference (PyTorch) checkpoints into it.
package model

import (
	"fmt"
	"reflect"
	"unsafe"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/components/backbone"
	"github.com/ssdrunner/ssdrunner/components/head"
	layers "github.com/ssdrunner/ssdrunner/components/nn"
	"github.com/ssdrunner/ssdrunner/internal/torch"
	"github.com/ssdrunner/ssdrunner/registry"
)

// SSD is a backbone followed by a head, with all variables at the root of one VarStore
// (names such as "base_net.0.0.weight", "classification_headers.5.bias").
type SSD struct {
	Backbone   backbone.Backbone
	Head       head.Head
	NumClasses int
	vs         *nn.VarStore
	// channelsLast: the 4-D variables and the input are laid out channels-last.
	channelsLast bool
	// folded holds the kernels and biases made by FoldBatchNorms.
	folded []*ts.Tensor
}

// New composes an SSD from a backbone and a head already built under vs.Root().
func New(vs *nn.VarStore, bb backbone.Backbone, hd head.Head, numClasses int) *SSD {
	return &SSD{Backbone: bb, Head: hd, NumClasses: numClasses, vs: vs}
}

// Build creates the backbone named by backboneRef under vs.Root(), then the head named by
// headRef for the backbone's feature-map channels, boxesPerLocation anchors per location
// of each map and numClasses classes (background included).
func Build(vs *nn.VarStore, backboneRef, headRef registry.Ref, boxesPerLocation []int, numClasses int) (_ *SSD, err error) {
	defer torch.Recover(&err)
	bb, err := backbone.Build(backboneRef, vs.Root())
	if err != nil {
		return nil, err
	}
	ch := bb.Channels()
	if len(boxesPerLocation) != len(ch) {
		return nil, fmt.Errorf("backbone %q gives %d feature maps but the anchors describe %d", backboneRef.Type, len(ch), len(boxesPerLocation))
	}
	hd, err := head.Build(headRef, vs.Root(), head.Spec{Channels: ch, BoxesPerLocation: boxesPerLocation, NumClasses: numClasses})
	if err != nil {
		return nil, err
	}
	return New(vs, bb, hd, numClasses), nil
}

// VarStore returns the store holding the model's variables.
func (m *SSD) VarStore() *nn.VarStore { return m.vs }

// Modules returns the top-level module names: the backbone's, then the head's.
func (m *SSD) Modules() []string {
	return append(m.Backbone.Modules(), m.Head.Modules()...)
}

// Forward returns the raw class logits [B,N,NumClasses] and raw box offsets [B,N,4]
// (encoded against the priors with the centre/size variances), as the reference's
// SSD.forward returns them when is_test is false: no softmax, no decoding. train selects
// batch statistics in batch norms (and updates their running statistics); it is the
// reference's net.train() / net.eval(). The caller owns conf and loc; all intermediates
// are freed.
func (m *SSD) Forward(x *ts.Tensor, train bool) (conf, loc *ts.Tensor, err error) {
	s := torch.NewScope()
	defer s.Close()
	defer torch.Recover(&err)
	if m.channelsLast && x.Dim() == 4 {
		if x, err = torch.ChannelsLast(x); err != nil {
			return nil, nil, err
		}
		s.T(x)
	}
	feats, err := m.Backbone.Forward(x, train)
	if err != nil {
		return nil, nil, err
	}
	s.Ts(feats...)
	return m.Head.Forward(feats, train)
}

// SetChannelsLast lays every 4-D variable (the convolutions' kernels) out channels-last,
// in place, and makes Forward lay its input out so: the values and the outputs' layout
// are unchanged, but libtorch's oneDNN convolutions then run without converting layouts
// (PyTorch's model.to(memory_format=torch.channels_last)). The results differ from the
// default layout's by float32 rounding (other kernels, other summation orders). Call it
// after loading weights: a load may replace the variables' data.
func (m *SSD) SetChannelsLast() (err error) {
	defer torch.Recover(&err)
	for name, v := range m.vs.Variables() {
		if err := torch.SetChannelsLast(&v); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	m.channelsLast = true
	return nil
}

// FeatureMapSizes runs the backbone on a zero image [1,3,imageSize,imageSize] without
// gradients, in evaluation mode, and returns each feature map's spatial size (its height;
// an error if a map is not square, or if the image is too small for the backbone). It
// leaves no tensor behind.
func (m *SSD) FeatureMapSizes(imageSize int) (sizes []int, err error) {
	if imageSize <= 0 {
		return nil, fmt.Errorf("feature map sizes: image size must be positive, got %d", imageSize)
	}
	err = torch.NoGrad(func() (err error) {
		s := torch.NewScope()
		defer s.Close()
		defer torch.Recover(&err)
		x := s.T(ts.MustZeros([]int64{1, 3, int64(imageSize), int64(imageSize)}, gotch.Float, m.vs.Device()))
		feats, err := m.Backbone.Forward(x, false)
		if err != nil {
			return err
		}
		s.Ts(feats...)
		for i, f := range feats {
			d := f.MustSize()
			if len(d) != 4 || d[2] != d[3] {
				return fmt.Errorf("feature map %d has shape %v, want a square map", i, d)
			}
			sizes = append(sizes, int(d[2]))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("feature map sizes for %d×%d images: %w", imageSize, imageSize, err)
	}
	return sizes, nil
}

// Close frees every variable of the model (gotch v0.7.0 has no finalizers). The model is
// unusable afterwards. It may be called more than once.
func (m *SSD) Close() {
	if m == nil || m.vs == nil {
		return
	}
	for _, t := range m.vs.Variables() {
		t.MustDrop()
	}
	for _, t := range m.folded {
		t.MustDrop()
	}
	m.vs, m.folded = nil, nil
}

// Freeze stops gradients for every parameter of the given top-level modules (torch's
// requires_grad_(False), as the reference's freeze_net_layers): backward no longer
// computes them and an optimizer skips them. Their batch norms are put in evaluation mode
// for good (they normalise with their running statistics and keep them), unless
// bnDrift, which keeps them in training mode like the reference's --freeze_net and
// --freeze_base_net: their running statistics then drift with the batches.
func (m *SSD) Freeze(bnDrift bool, modules ...string) error {
	frozen := map[unsafe.Pointer]bool{}
	for _, mod := range modules {
		_, params := m.Parameters(mod)
		for _, p := range params {
			if err := torch.InPlace(p, func(t *ts.Tensor) error { return t.RequiresGrad_(false) }); err != nil {
				return fmt.Errorf("freeze %s: %w", mod, err)
			}
			frozen[p.Ctensor()] = true
		}
	}
	if bnDrift || len(frozen) == 0 {
		return nil
	}
	for _, bn := range batchNorms(m.Backbone, m.Head) {
		if frozen[bn.Weight.Ctensor()] {
			bn.Frozen = true
		}
	}
	return nil
}

// SyncBatchNorm makes every batch norm of the model that trains (not frozen) normalise
// through s in training mode (nil: back to per-process statistics), and returns how many
// it set.
func (m *SSD) SyncBatchNorm(s layers.SyncNorm) int {
	n := 0
	for _, bn := range batchNorms(m.Backbone, m.Head) {
		bn.Sync = nil
		if !bn.Frozen && s != nil {
			bn.Sync = s
			n++
		}
	}
	return n
}

// batchNorms finds every batch norm layer reachable from roots (the backbone's and the
// head's layers, however they are held: fields, embedded structs, slices, interfaces).
func batchNorms(roots ...any) []*layers.BatchNorm2d {
	return reachable[layers.BatchNorm2d](false, roots...)
}

// reachable finds every *T reachable from roots through fields, embedded structs,
// slices, arrays, maps, pointers and interfaces, each once, in the order met; with
// within, also those reachable from a *T found (nested sequences).
func reachable[T any](within bool, roots ...any) []*T {
	want := reflect.TypeOf((*T)(nil))
	seen := map[unsafe.Pointer]bool{}
	var out []*T
	var visit func(v reflect.Value)
	visit = func(v reflect.Value) {
		switch v.Kind() {
		case reflect.Pointer:
			if v.IsNil() || seen[v.UnsafePointer()] {
				return
			}
			seen[v.UnsafePointer()] = true
			if v.Type() == want {
				out = append(out, (*T)(v.UnsafePointer()))
				if !within {
					return
				}
			}
			visit(v.Elem())
		case reflect.Interface:
			if !v.IsNil() {
				visit(v.Elem())
			}
		case reflect.Struct:
			if v.Type() == reflect.TypeOf(ts.Tensor{}) {
				return
			}
			for i := range v.NumField() {
				visit(v.Field(i))
			}
		case reflect.Slice, reflect.Array:
			for i := range v.Len() {
				visit(v.Index(i))
			}
		case reflect.Map:
			iter := v.MapRange()
			for iter.Next() {
				visit(iter.Value())
			}
		}
	}
	for _, r := range roots {
		visit(reflect.ValueOf(r))
	}
	return out
}

// FoldBatchNorms folds every batch norm that directly follows a convolution in one of
// the model's sequences into that convolution, for inference (see
// components/nn.Seq.FoldBatchNorms): evaluation-mode forward passes then skip those
// batch norms, with the same results up to float32 rounding. Training mode is unchanged,
// but the folded values are those of the weights now: call it after loading them, on a
// model that will not train or load again. It returns how many batch norms it folded;
// Close frees what it made.
func (m *SSD) FoldBatchNorms() (n int, err error) {
	for _, s := range reachable[layers.Seq](true, m.Backbone, m.Head) {
		made, k, err := s.FoldBatchNorms()
		m.folded = append(m.folded, made...)
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
