package pthfile

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// expected is testdata/expected.json: for each file, each key's dtype, shape and values
// in row-major order, as python3-torch printed them.
type expected map[string]map[string]struct {
	DType  string    `json:"dtype"`
	Shape  []int64   `json:"shape"`
	Values []float64 `json:"values"`
}

// viewValues reads t's view in row-major order as float64 (exact for every dtype the
// fixtures use: their integers are below 2^53 and the floats are float32 or float64).
func viewValues(t *Tensor) []float64 {
	var at func(i int64) float64
	switch d := t.Data.(type) {
	case []float32:
		at = func(i int64) float64 { return float64(d[i]) }
	case []float64:
		at = func(i int64) float64 { return d[i] }
	case []int64:
		at = func(i int64) float64 { return float64(d[i]) }
	case []int32:
		at = func(i int64) float64 { return float64(d[i]) }
	case []int16:
		at = func(i int64) float64 { return float64(d[i]) }
	case []int8:
		at = func(i int64) float64 { return float64(d[i]) }
	case []uint8:
		at = func(i int64) float64 { return float64(d[i]) }
	case []bool:
		at = func(i int64) float64 {
			if d[i] {
				return 1
			}
			return 0
		}
	}
	var out []float64
	idx := make([]int64, len(t.Size))
	for n := t.Numel(); n > 0; n-- {
		off := t.Offset
		for k := range idx {
			off += idx[k] * t.Stride[k]
		}
		out = append(out, at(off))
		for k := len(idx) - 1; k >= 0; k-- {
			if idx[k]++; idx[k] < t.Size[k] {
				break
			}
			idx[k] = 0
		}
	}
	return out
}

// TestReadFixtures: files python3-torch 1.13 wrote in both formats read back with every
// key in order, its dtype, shape and values exactly (the values are stored bits, so
// they compare with ==; half and bfloat16 are widened exactly to float32, as torch's
// .float() does). The empty tensor is left out, as its storage holds no data.
func TestReadFixtures(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var exp expected
	if err := json.Unmarshal(b, &exp); err != nil {
		t.Fatal(err)
	}
	for file, want := range exp {
		got, err := Read(filepath.Join("testdata", file))
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		seen := map[string]bool{}
		for i := range got {
			g := &got[i]
			seen[g.Name] = true
			w, ok := want[g.Name]
			if !ok {
				t.Errorf("%s: unexpected key %q", file, g.Name)
				continue
			}
			if string(g.DType) != w.DType {
				t.Errorf("%s %s: dtype %s, want %s", file, g.Name, g.DType, w.DType)
			}
			if !slices.Equal(g.Size, w.Shape) {
				t.Errorf("%s %s: shape %v, want %v", file, g.Name, g.Size, w.Shape)
			}
			if v := viewValues(g); !slices.Equal(v, w.Values) {
				t.Errorf("%s %s: values %v, want %v", file, g.Name, v, w.Values)
			}
		}
		for k, w := range want {
			if !seen[k] && !(len(w.Values) == 0) {
				t.Errorf("%s: key %q not read", file, k)
			}
		}
		if file != "param.pth" && (len(got) != len(want)-1 || got[0].Name != "conv.weight" || got[len(got)-1].Name != "bool") {
			t.Errorf("%s: %d keys, want %d in the file's order", file, len(got), len(want)-1)
		}
	}
}

// TestSharedStorage: entries that share a storage in the file share Data.
func TestSharedStorage(t *testing.T) {
	for _, f := range []string{"zip.pth", "legacy.pth"} {
		got, err := Read(filepath.Join("testdata", f))
		if err != nil {
			t.Fatal(err)
		}
		by := map[string]*Tensor{}
		for i := range got {
			by[got[i].Name] = &got[i]
		}
		a, b := by["base"].Data.([]float32), by["base_t"].Data.([]float32)
		if &a[0] != &b[0] || by["base_tail"].Offset != 6 {
			t.Errorf("%s: base and its views do not share one storage (offset %d)", f, by["base_tail"].Offset)
		}
	}
}

// TestTruncated: every prefix of both fixtures is an error, never a panic, and a cut
// legacy file says where it ends.
func TestTruncated(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"zip.pth", "legacy.pth"} {
		full, err := os.ReadFile(filepath.Join("testdata", f))
		if err != nil {
			t.Fatal(err)
		}
		for n := 1; n < len(full); n++ {
			p := filepath.Join(dir, "cut.pth")
			if err := os.WriteFile(p, full[:n], 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := Read(p); err == nil {
				t.Errorf("%s cut at %d of %d bytes was accepted", f, n, len(full))
			}
		}
	}
}

// legacyWith is a legacy file whose state_dict pickle is body (without its PROTO and
// STOP) and whose storages follow as given.
func legacyWith(body []byte, keys []string, storages [][]byte) []byte {
	var b bytes.Buffer
	b.Write([]byte{0x80, 2, 0x8a, 10})
	b.Write(legacyMagic[:])
	b.WriteByte('.')
	b.Write([]byte{0x80, 2, 'M', 0xe9, 0x03, '.'})
	b.Write([]byte{0x80, 2, '}', '.'})
	b.Write([]byte{0x80, 2})
	b.Write(body)
	b.WriteByte('.')
	b.Write([]byte{0x80, 2, '('})
	for _, k := range keys {
		b.WriteByte('X')
		binary.Write(&b, binary.LittleEndian, uint32(len(k)))
		b.WriteString(k)
	}
	b.Write([]byte{'l', '.'})
	for _, s := range storages {
		b.Write(s)
	}
	return b.Bytes()
}

// onePickle is the pickle of OrderedDict{name: tensor of storage key "0" with the given
// element count, shape and strides}.
func onePickle(name string, numel int64, size, stride []int64, long1 bool) []byte {
	var p bytes.Buffer
	uni := func(s string) {
		p.WriteByte('X')
		binary.Write(&p, binary.LittleEndian, uint32(len(s)))
		p.WriteString(s)
	}
	integer := func(v int64) {
		if long1 {
			p.Write([]byte{0x8a, 8})
			binary.Write(&p, binary.LittleEndian, v)
			return
		}
		p.WriteByte('J')
		binary.Write(&p, binary.LittleEndian, int32(v))
	}
	p.WriteString("ccollections\nOrderedDict\n)R(")
	uni(name)
	p.WriteString("ctorch._utils\n_rebuild_tensor_v2\n((")
	uni("storage")
	p.WriteString("ctorch\nFloatStorage\n")
	uni("0")
	uni("cpu")
	integer(numel)
	p.WriteString("NtQ")
	integer(0)
	p.WriteByte('(')
	for _, s := range size {
		integer(s)
	}
	p.WriteString("t(")
	for _, s := range stride {
		integer(s)
	}
	p.WriteString("t\x89ccollections\nOrderedDict\n)RtRu")
	return p.Bytes()
}

func floats(n int64, vals ...float32) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, n)
	binary.Write(&b, binary.LittleEndian, vals)
	return b.Bytes()
}

// TestHostile: inputs that made gotch's reader allocate terabytes, loop or panic are
// errors that say what is wrong, and the well-formed control reads.
func TestHostile(t *testing.T) {
	dir := t.TempDir()
	huge := int64(1) << 40
	cases := []struct {
		name string
		b    []byte
		want string // "" = reads
	}{
		{"control", legacyWith(onePickle("w", 2, []int64{2}, []int64{1}, false), []string{"0"}, [][]byte{floats(2, 1, 2)}), ""},
		{"huge_numel", legacyWith(onePickle("w", huge, []int64{2}, []int64{1}, true), []string{"0"}, [][]byte{floats(huge, 1, 2)}), "truncated"},
		{"too_many", legacyWith(onePickle("w", huge*2, []int64{2}, []int64{1}, true), []string{"0"}, [][]byte{floats(2, 1, 2)}), "elements"},
		{"negative", legacyWith(onePickle("w", -1, []int64{2}, []int64{1}, false), []string{"0"}, nil), "elements"},
		{"count_differs", legacyWith(onePickle("w", 2, []int64{2}, []int64{1}, false), []string{"0"}, [][]byte{floats(3, 1, 2, 3)}), "holds 3 elements"},
		{"view_past", legacyWith(onePickle("w", 2, []int64{3}, []int64{1}, false), []string{"0"}, [][]byte{floats(2, 1, 2)}), "reaches past"},
		{"unknown_key", legacyWith(onePickle("w", 2, []int64{2}, []int64{1}, false), []string{"9"}, [][]byte{floats(2, 1, 2)}), "not used"},
		{"missing_storage", legacyWith(onePickle("w", 2, []int64{2}, []int64{1}, false), nil, nil), "not among"},
		{"frame_huge", append([]byte{0x80, 4, 0x95, 0, 0, 0, 0, 0, 0, 0, 0x7f, 0x8d}, bytes.Repeat([]byte{0xff}, 8)...), "not a PyTorch"},
		{"unicode_huge", legacyWith([]byte{'X', 0xff, 0xff, 0xff, 0x7f}, nil, nil), "truncated"},
		{"bytes8_huge", legacyWith(append([]byte{0x8e}, bytes.Repeat([]byte{0xff}, 8)...), nil, nil), "truncated"},
		{"long4_huge", legacyWith([]byte{0x8b, 0xff, 0xff, 0xff, 0x7f}, nil, nil), "truncated"},
		{"code", legacyWith([]byte("cos\nsystem\n(X\x02\x00\x00\x00lstR"), nil, nil), "os.system"},
		{"unknown_op", legacyWith([]byte{0xfe}, nil, nil), "opcode 0xfe"},
		{"underflow", legacyWith([]byte{'t'}, nil, nil), "no mark"},
		{"bad_memo", legacyWith([]byte{'h', 9}, nil, nil), "never stored"},
		{"two_values", legacyWith([]byte("NN"), nil, nil), "want one value"},
		{"not_dict", legacyWith([]byte("]"), []string{}, nil), "holds a list"},
		{"text", []byte("not a checkpoint\n"), "not a PyTorch"},
		{"zeros", make([]byte, 1024), "zero-filled"},
	}
	for _, c := range cases {
		p := filepath.Join(dir, c.name+".pth")
		if err := os.WriteFile(p, c.b, 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := Read(p)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.want == "" && (len(got) != 1 || viewValues(&got[0])[1] != 2):
			t.Errorf("%s: read %+v", c.name, got)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: got %v, want an error with %q", c.name, err, c.want)
		}
	}
}

// TestLegacyView: a legacy storage id with a view description (torch before 1.0 saved
// storage views so) reads elements [offset, offset+size) of its root storage.
func TestLegacyView(t *testing.T) {
	var view bytes.Buffer
	view.WriteString("(X\x01\x00\x00\x00v")
	for _, v := range []int32{1, 2} {
		view.WriteByte('J')
		binary.Write(&view, binary.LittleEndian, v)
	}
	view.WriteString("ttQ")
	body := bytes.Replace(onePickle("w", 4, []int64{2}, []int64{1}, false), []byte("NtQ"), view.Bytes(), 1)
	b := legacyWith(body, []string{"0"}, [][]byte{floats(4, 1, 2, 3, 4)})
	got, err := Decode(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !slices.Equal(viewValues(&got[0]), []float64{2, 3}) {
		t.Errorf("read %+v, want w = [2 3]", got)
	}
	bad := legacyWith(bytes.Replace(body, []byte{'J', 2, 0, 0, 0, 't'}, []byte{'J', 9, 0, 0, 0, 't'}, 1), []string{"0"}, [][]byte{floats(4, 1, 2, 3, 4)})
	if _, err := Decode(bytes.NewReader(bad), int64(len(bad))); err == nil || !strings.Contains(err.Error(), "outside its storage") {
		t.Errorf("a view past its storage: %v", err)
	}
}

// TestZipHostile: a zip record that is compressed, missing or of the wrong size, and a
// TorchScript archive, are refused.
func TestZipHostile(t *testing.T) {
	dir := t.TempDir()
	// the zip format's storage ids have no sixth field (the legacy view description)
	body := bytes.Replace(onePickle("w", 2, []int64{2}, []int64{1}, false), []byte("NtQ"), []byte("tQ"), 1)
	pkl := append([]byte{0x80, 2}, body...)
	pkl = append(pkl, '.')
	two := floats(2, 1, 2)[8:]
	mk := func(method uint16, records map[string][]byte) []byte {
		var b bytes.Buffer
		zw := zip.NewWriter(&b)
		for _, name := range []string{"archive/data.pkl", "archive/data/0", "archive/constants.pkl"} {
			data, ok := records[name]
			if !ok {
				continue
			}
			w, _ := zw.CreateHeader(&zip.FileHeader{Name: name, Method: method})
			w.Write(data)
		}
		zw.Close()
		return b.Bytes()
	}
	cases := []struct {
		name string
		b    []byte
		want string
	}{
		{"control", mk(zip.Store, map[string][]byte{"archive/data.pkl": pkl, "archive/data/0": two}), ""},
		{"deflate", mk(zip.Deflate, map[string][]byte{"archive/data.pkl": pkl, "archive/data/0": two}), "compressed"},
		{"no_record", mk(zip.Store, map[string][]byte{"archive/data.pkl": pkl}), "no record"},
		{"short_record", mk(zip.Store, map[string][]byte{"archive/data.pkl": pkl, "archive/data/0": two[:4]}), "holds 4 bytes"},
		{"torchscript", mk(zip.Store, map[string][]byte{"archive/data.pkl": pkl, "archive/constants.pkl": {'.'}}), "TorchScript"},
		{"no_pkl", mk(zip.Store, map[string][]byte{"archive/data/0": two}), "without data.pkl"},
	}
	for _, c := range cases {
		p := filepath.Join(dir, c.name+".pth")
		if err := os.WriteFile(p, c.b, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Read(p)
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%s: got %v, want %q", c.name, err, c.want)
		}
	}
}

func TestHalfToFloat(t *testing.T) {
	for h, want := range map[uint16]float32{
		0x3c00: 1, 0xc000: -2, 0x7bff: 65504, 0x0001: 1.0 / (1 << 24), 0x0400: 1.0 / (1 << 14),
		0x8000: float32(math.Copysign(0, -1)), 0x7c00: float32(math.Inf(1)),
	} {
		if got := halfToFloat(h); got != want || math.Signbit(float64(got)) != math.Signbit(float64(want)) {
			t.Errorf("halfToFloat(%#04x) = %v, want %v", h, got, want)
		}
	}
	if got := halfToFloat(0x7e00); !math.IsNaN(float64(got)) {
		t.Errorf("halfToFloat(NaN) = %v", got)
	}
}

// FuzzRead: no input makes the reader panic, hang or allocate beyond the file's size
// (the fuzzing engine's memory limit would end the worker). The seeds are both
// fixtures, every 13th prefix of them, and random bytes.
func FuzzRead(f *testing.F) {
	for _, name := range []string{"zip.pth", "legacy.pth", "param.pth"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		for n := 0; n < len(b); n += 13 {
			f.Add(b[:n])
		}
	}
	r := rand.New(rand.NewPCG(3, 4))
	for range 8 {
		b := make([]byte, r.IntN(2048))
		for i := range b {
			b[i] = byte(r.UintN(256))
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := Decode(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		for i := range got {
			// a tensor that is read is always a view inside its storage
			if err := CheckView(got[i].Size, got[i].Stride, got[i].Offset, int64(reflect.ValueOf(got[i].Data).Len())); err != nil {
				t.Errorf("key %q: %v", got[i].Name, err)
			}
		}
	})
}
