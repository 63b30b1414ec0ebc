// Package model composes a backbone and a head into an SSD whose variables carry the
// reference's state_dict names, and loads reference (PyTorch) checkpoints into it.
package model

import (
	"fmt"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/components/backbone"
	"github.com/ssdrunner/ssdrunner/components/head"
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
	feats, err := m.Backbone.Forward(x, train)
	if err != nil {
		return nil, nil, err
	}
	s.Ts(feats...)
	return m.Head.Forward(feats, train)
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
