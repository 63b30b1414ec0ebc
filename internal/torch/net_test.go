package torch

import (
	"fmt"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// tinyNet is the small conv net the smoke, memory and benchmark tests train:
// conv(3→16, stride 2)-bn-relu-conv(16→32, stride 2)-global average pool-linear.
type tinyNet struct {
	vs    *nn.VarStore
	conv1 *nn.Conv2D
	bn1   *nn.BatchNorm
	conv2 *nn.Conv2D
	fc    *nn.Linear
}

func newTinyNet(classes int64) *tinyNet {
	vs := nn.NewVarStore(gotch.CPU)
	root := vs.Root()
	conv := func(name string, in, out int64, bias bool) *nn.Conv2D {
		cfg := nn.NewConv2DConfig(nn.WithStride2D(2), nn.WithPadding2D(1), nn.WithBias2D(bias))
		return nn.NewConv2D(root.Sub(name), in, out, 3, cfg)
	}
	return &tinyNet{
		vs:    vs,
		conv1: conv("conv1", 3, 16, false),
		bn1:   nn.BatchNorm2D(root.Sub("bn1"), 16, nn.DefaultBatchNormConfig()),
		conv2: conv("conv2", 16, 32, true),
		fc:    nn.NewLinear(root.Sub("fc"), 32, classes, nn.DefaultLinearConfig()),
	}
}

// forward returns the logits [B, classes]; the caller owns them.
func (n *tinyNet) forward(x *ts.Tensor, train bool) *ts.Tensor {
	s := NewScope()
	defer s.Close()
	h := s.T(n.conv1.Forward(x))
	h = s.T(n.bn1.ForwardT(h, train))
	h = s.T(h.MustRelu(false))
	h = s.T(n.conv2.Forward(h))
	h = s.T(h.MustAdaptiveAvgPool2d([]int64{1, 1}, false))
	h = s.T(h.MustFlatten(1, -1, false))
	return n.fc.Forward(h)
}

// loss returns the mean cross-entropy of the logits for x against the class indices y;
// the caller owns it. (gotch's CrossEntropyForLogits leaks an undefined weight handle per
// call, so the op is called directly with ts.None.)
func (n *tinyNet) loss(x, y *ts.Tensor) *ts.Tensor {
	logits := n.forward(x, true)
	return logits.MustCrossEntropyLoss(y, ts.None, 1, -100, 0, true)
}

// params returns the trainable parameters, as the VarStore's own tensors.
func (n *tinyNet) params() []*ts.Tensor {
	ps := []*ts.Tensor{n.conv1.Ws, n.bn1.Ws, n.bn1.Bs, n.conv2.Ws, n.conv2.Bs, n.fc.Bs}
	// fc.Ws is a transposed view of the stored weight; the stored one is the parameter.
	return append(ps, n.vs.Root().MustGet("fc.weight")) // Path.Get ignores the path prefix
}

// close frees every tensor the net owns; the net must not be used afterwards. (The storage
// of the parameters that gotch's uniform and Kaiming initialisers made stays allocated:
// they orphan a handle, see InPlace.)
func (n *tinyNet) close() {
	for _, v := range n.vs.Variables() { // copies sharing the VarStore's handles
		v.MustDrop()
	}
	n.fc.Ws.MustDrop()    // the transposed view
	n.conv1.Bs.MustDrop() // the undefined bias handle of a conv without bias
}

// sgd is a hand-written SGD with momentum and weight decay, following PyTorch's
// torch.optim.SGD (dampening 0, not Nesterov): d = g + wd·p; buf = m·buf + d; p -= lr·buf.
type sgd struct {
	params        []*ts.Tensor
	bufs          []*ts.Tensor // momentum buffers
	lrS, momS, wS *ts.Scalar
}

func newSGD(params []*ts.Tensor, lr, momentum, weightDecay float64) *sgd {
	o := &sgd{params: params,
		lrS: ts.FloatScalar(lr), momS: ts.FloatScalar(momentum), wS: ts.FloatScalar(weightDecay)}
	for _, p := range params {
		o.bufs = append(o.bufs, p.MustZerosLike(false))
	}
	return o
}

func (o *sgd) zeroGrad() error {
	for _, p := range o.params {
		if err := ZeroGrad(p); err != nil {
			return err
		}
	}
	return nil
}

func (o *sgd) step() error {
	return NoGrad(func() error {
		s := NewScope()
		defer s.Close()
		for i, p := range o.params {
			g := s.T(p.MustGrad(false))
			d := s.T(p.MustMulScalar(o.wS, false))
			if err := InPlace(d, func(d *ts.Tensor) error { return d.Add_(g) }); err != nil {
				return fmt.Errorf("param %d: %w", i, err)
			}
			buf := o.bufs[i]
			if err := InPlace(buf, func(b *ts.Tensor) error { return b.MulScalar_(o.momS) }); err != nil {
				return err
			}
			if err := InPlace(buf, func(b *ts.Tensor) error { return b.Add_(d) }); err != nil {
				return err
			}
			upd := s.T(buf.MustMulScalar(o.lrS, false))
			if err := InPlace(p, func(p *ts.Tensor) error { return p.Sub_(upd) }); err != nil {
				return fmt.Errorf("param %d: %w", i, err)
			}
		}
		return nil
	})
}

func (o *sgd) close() {
	for _, b := range o.bufs {
		b.MustDrop()
	}
	o.lrS.MustDrop()
	o.momS.MustDrop()
	o.wS.MustDrop()
}

// batch is a fixed synthetic batch: images [n,3,size,size] and class indices [n].
type batch struct{ x, y *ts.Tensor }

func newBatch(n, size, classes int64) batch {
	x := ts.MustRandn([]int64{n, 3, size, size}, gotch.Float, gotch.CPU)
	y := ts.MustRandint(classes, []int64{n}, gotch.Int64, gotch.CPU)
	return batch{x, y}
}

func (b batch) close() {
	b.x.MustDrop()
	b.y.MustDrop()
}

// trainer is one training set-up for the memory tests: a net, a fixed batch and an
// optimizer behind step.
type trainer struct {
	net   *tinyNet
	b     batch
	step  func() (float64, error)
	close func()
}

// newTrainer builds the tiny net with batch size n and images size×size, trained by the
// hand-written SGD (optimizer "manual") or by gotch's nn.SGD, i.e. libtorch's C++
// torch::optim::SGD ("libtorch"). Both use momentum 0.9 and weight decay 5e-4.
func newTrainer(optimizer string, n, size int64) (*trainer, error) {
	const lr, momentum, wd = 0.01, 0.9, 5e-4
	tr := &trainer{net: newTinyNet(10), b: newBatch(n, size, 10)}
	switch optimizer {
	case "manual":
		o := newSGD(tr.net.params(), lr, momentum, wd)
		tr.step = func() (float64, error) { return trainStep(tr.net, o, tr.b) }
		tr.close = func() { o.close(); tr.b.close(); tr.net.close() }
	case "libtorch":
		o, err := nn.NewSGDConfig(momentum, 0, wd, false).Build(tr.net.vs, lr)
		if err != nil {
			tr.b.close()
			tr.net.close()
			return nil, err
		}
		tr.step = func() (float64, error) {
			if err := o.ZeroGrad(); err != nil {
				return 0, err
			}
			loss := tr.net.loss(tr.b.x, tr.b.y)
			defer loss.MustDrop()
			if err := loss.Backward(); err != nil {
				return 0, err
			}
			if err := o.Step(); err != nil {
				return 0, err
			}
			return loss.Float64Value([]int64{})
		}
		// nn.Optimizer has no way to free its C++ optimizer (and momentum buffers): that
		// stays allocated, once per optimizer.
		tr.close = func() { tr.b.close(); tr.net.close() }
	default:
		tr.b.close()
		tr.net.close()
		return nil, fmt.Errorf("unknown optimizer %q", optimizer)
	}
	return tr, nil
}

// trainStep runs one forward, backward and hand-written SGD update and returns the loss.
func trainStep(n *tinyNet, o *sgd, b batch) (float64, error) {
	if err := o.zeroGrad(); err != nil {
		return 0, err
	}
	loss := n.loss(b.x, b.y)
	defer loss.MustDrop()
	if err := loss.Backward(); err != nil {
		return 0, err
	}
	if err := o.step(); err != nil {
		return 0, err
	}
	return loss.Float64Value([]int64{})
}

// warmProcess runs a few steps of every trainer once, so that what the first training in
// a process brings in (libtorch's code pages and caches) is not counted as growth by the
// memory tests.
func warmProcess() error {
	for _, opt := range []string{"manual", "libtorch"} {
		tr, err := newTrainer(opt, 8, 64)
		if err != nil {
			return err
		}
		for i := 0; i < 30; i++ {
			if _, err := tr.step(); err != nil {
				tr.close()
				return err
			}
		}
		tr.close()
	}
	return nil
}
