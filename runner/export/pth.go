package export

import (
	"bytes"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/ssdrunner/ssdrunner/components/nn"
	"github.com/ssdrunner/ssdrunner/internal/torch"
	"github.com/ssdrunner/ssdrunner/runner/export/torchsave"
)

// PTH returns the model's state_dict in torch.save's format (PyTorch 1.6 and later,
// read by python3-torch 1.13): every variable under its state_dict name as a float32
// tensor, plus, for each batch norm, the num_batches_tracked counter that torch's
// BatchNorm2d keeps (0: this project does not count batches; torch reads the counter
// only when momentum is None, which no model here uses). The reference's net.load(path)
// loads it into the network of the same configuration, strictly.
func PTH(m *Model) (_ []byte, err error) {
	defer torch.Recover(&err)
	vars := m.SSD.VarStore().Variables()
	names := make([]string, 0, len(vars))
	for name := range vars {
		names = append(names, name)
	}
	for name := range vars {
		if prefix, ok := strings.CutSuffix(name, ".running_mean"); ok {
			names = append(names, prefix+".num_batches_tracked")
		}
	}
	sortStateDict(names, m.SSD.Modules())
	tensors := make([]torchsave.Tensor, 0, len(names))
	for _, name := range names {
		t, ok := vars[name]
		if !ok { // a num_batches_tracked counter
			tensors = append(tensors, torchsave.Tensor{Name: name, Dims: nil, Data: []int64{0}})
			continue
		}
		dims, vals, err := nn.Float32Values(&t)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		tensors = append(tensors, torchsave.Tensor{Name: name, Dims: dims, Data: vals})
	}
	var b bytes.Buffer
	if err := torchsave.Write(&b, tensors); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// sortStateDict orders names close to torch's state_dict order (which loading ignores,
// but people read): top-level modules in the model's order, then segment by segment,
// numbers numerically (base_net.2 before base_net.10), a module's own tensors before its
// children's, in the order weight, bias, running_mean, running_var, num_batches_tracked.
func sortStateDict(names, modules []string) {
	rank := map[string]int{"weight": 0, "bias": 1, "running_mean": 2, "running_var": 3, "num_batches_tracked": 4}
	modRank := map[string]int{}
	for i, m := range modules {
		modRank[m] = i
	}
	less := func(a, b string) bool {
		as, bs := strings.Split(a, "."), strings.Split(b, ".")
		for i := 0; i < len(as) && i < len(bs); i++ {
			x, y := as[i], bs[i]
			if x == y {
				continue
			}
			if i == 0 {
				rx, okx := modRank[x]
				ry, oky := modRank[y]
				if okx && oky {
					return rx < ry
				}
			}
			xl, yl := i == len(as)-1, i == len(bs)-1
			if xl && yl {
				rx, okx := rank[x]
				ry, oky := rank[y]
				if okx && oky {
					return rx < ry
				}
			}
			if xl != yl { // a module's own tensors before its children's
				return xl
			}
			xn, errx := strconv.Atoi(x)
			yn, erry := strconv.Atoi(y)
			if errx == nil && erry == nil {
				return xn < yn
			}
			return x < y
		}
		return len(as) < len(bs)
	}
	sort.SliceStable(names, func(i, j int) bool { return less(names[i], names[j]) })
}
