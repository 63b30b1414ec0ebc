package torchsave

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ssdrunner/ssdrunner/internal/reftest"
)

var sample = []Tensor{
	{Name: "conv.weight", Dims: []int64{2, 1, 1, 3}, Data: []float32{1, 2, 3, 4, 5, -6.5}},
	{Name: "bn.num_batches_tracked", Dims: nil, Data: []int64{7}},
	{Name: "big.count", Dims: []int64{2}, Data: []int64{math.MaxInt64, -1 << 40}},
}

// TestLayout checks the zip records torch.load expects: data.pkl, one data record per
// tensor with its little-endian bytes, starting 64-byte aligned, and version; stored,
// not compressed.
func TestLayout(t *testing.T) {
	var b bytes.Buffer
	if err := Write(&b, sample); err != nil {
		t.Fatal(err)
	}
	raw := b.Bytes()
	zr, err := zip.NewReader(bytes.NewReader(raw), int64(len(raw)))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
		if f.Method != zip.Store {
			t.Errorf("%s is compressed", f.Name)
		}
		off, err := f.DataOffset()
		if err != nil {
			t.Fatal(err)
		}
		if off%alignment != 0 {
			t.Errorf("%s: data at offset %d, not %d-aligned", f.Name, off, alignment)
		}
	}
	want := "archive/data.pkl archive/data/0 archive/data/1 archive/data/2 archive/version"
	if got := strings.Join(names, " "); got != want {
		t.Fatalf("records %s, want %s", got, want)
	}
	read := func(name string) []byte {
		rc, err := zr.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		data, err := io.ReadAll(rc)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	if v := read("archive/version"); string(v) != "3\n" {
		t.Errorf("version %q", v)
	}
	w := read("archive/data/0")
	if len(w) != 24 || math.Float32frombits(binary.LittleEndian.Uint32(w[20:])) != -6.5 {
		t.Errorf("data/0 = %v", w)
	}
	if c := read("archive/data/1"); binary.LittleEndian.Uint64(c) != 7 {
		t.Errorf("data/1 = %v", c)
	}
	pkl := read("archive/data.pkl")
	if pkl[0] != opProto || pkl[1] != 2 || pkl[len(pkl)-1] != opStop {
		t.Errorf("pickle framing % x … % x", pkl[:2], pkl[len(pkl)-1:])
	}
	for _, s := range []string{"collections\nOrderedDict\n", "torch._utils\n_rebuild_tensor_v2\n", "torch\nFloatStorage\n", "torch\nLongStorage\n", "conv.weight"} {
		if !bytes.Contains(pkl, []byte(s)) {
			t.Errorf("data.pkl lacks %q", s)
		}
	}
}

func TestWriteErrors(t *testing.T) {
	for _, c := range []struct {
		ts   []Tensor
		want string
	}{
		{[]Tensor{{Name: "a", Dims: []int64{2}, Data: []float32{1}}}, "1 values for dimensions [2]"},
		{[]Tensor{{Name: "a", Data: []float32{1}}, {Name: "a", Data: []float32{2}}}, `key "a" twice`},
		{[]Tensor{{Name: "a", Data: []float64{1}}}, "unsupported data"},
		{[]Tensor{{Name: "a", Dims: []int64{-1}, Data: []float32{}}}, "negative dimension"},
	} {
		if err := Write(io.Discard, c.ts); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.ts, err, c.want)
		}
	}
}

// TestTorchLoad reads the file with python3-torch's torch.load, in its default mode and
// with weights_only=True (the restricted unpickler of torch.save's own types).
func TestTorchLoad(t *testing.T) {
	reftest.RequirePython(t, "torch")
	path := filepath.Join(t.TempDir(), "sd.pth")
	var b bytes.Buffer
	if err := Write(&b, sample); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	script := `
import sys, collections, torch
for kw in ({}, {"weights_only": True}):
    sd = torch.load(sys.argv[1], **kw)
    assert type(sd) is collections.OrderedDict, type(sd)
    assert list(sd) == ["conv.weight", "bn.num_batches_tracked", "big.count"], list(sd)
    w = sd["conv.weight"]
    assert w.dtype == torch.float32 and w.shape == (2, 1, 1, 3) and w.is_contiguous(), (w.dtype, w.shape)
    assert w.flatten().tolist() == [1, 2, 3, 4, 5, -6.5], w
    n = sd["bn.num_batches_tracked"]
    assert n.dtype == torch.int64 and n.dim() == 0 and n.item() == 7, n
    assert sd["big.count"].tolist() == [2**63 - 1, -(2**40)], sd["big.count"]
    assert not w.requires_grad
print("ok")
`
	out, err := exec.Command(reftest.Python(), "-c", script, path).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "ok") {
		t.Fatalf("torch.load: %v\n%s", err, out)
	}
}
