package model

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeTensor is one state_dict entry for writePTH: float32 storage data viewed with
// size, stride and offset.
type fakeTensor struct {
	name         string
	data         []float32
	size, stride []int64
	offset       int64
}

// pthBytes builds, without Python, the zip-format torch.save file of an OrderedDict of
// float tensors (the pickle torch 1.13 writes for a state_dict, protocol 2).
func pthBytes(t testing.TB, tensors []fakeTensor) []byte {
	t.Helper()
	var p bytes.Buffer
	global := func(mod, name string) { p.WriteString("c" + mod + "\n" + name + "\n") }
	unicode := func(s string) {
		p.WriteByte('X')
		binary.Write(&p, binary.LittleEndian, uint32(len(s)))
		p.WriteString(s)
	}
	binint := func(v int64) {
		p.WriteByte('J')
		binary.Write(&p, binary.LittleEndian, int32(v))
	}
	tuple := func(vs []int64) {
		p.WriteByte('(')
		for _, v := range vs {
			binint(v)
		}
		p.WriteByte('t')
	}
	p.Write([]byte{0x80, 2})
	global("collections", "OrderedDict")
	p.WriteString(")R(")
	for i, x := range tensors {
		unicode(x.name)
		global("torch._utils", "_rebuild_tensor_v2")
		p.WriteString("((")
		unicode("storage")
		global("torch", "FloatStorage")
		unicode(string(rune('0' + i)))
		unicode("cpu")
		binint(int64(len(x.data)))
		p.WriteString("tQ")
		binint(x.offset)
		tuple(x.size)
		tuple(x.stride)
		p.WriteByte(0x89) // NEWFALSE
		global("collections", "OrderedDict")
		p.WriteString(")Rt")
		p.WriteString("R")
	}
	p.WriteString("u.")

	var z bytes.Buffer
	zw := zip.NewWriter(&z)
	add := func(name string, b []byte) {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: "archive/" + name, Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(b)
	}
	add("data.pkl", p.Bytes())
	for i, x := range tensors {
		var d bytes.Buffer
		binary.Write(&d, binary.LittleEndian, x.data)
		add("data/"+string(rune('0'+i)), d.Bytes())
	}
	add("version", []byte("3\n"))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return z.Bytes()
}

func writeFile(t testing.TB, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func smallPTH(t testing.TB) []byte {
	return pthBytes(t, []fakeTensor{
		{name: "w", data: []float32{1, 2, 3, 4, 5, 6}, size: []int64{2, 3}, stride: []int64{3, 1}},
		{name: "b", data: []float32{7, 8}, size: []int64{2}, stride: []int64{1}},
	})
}

// TestDecodePTHSmall checks the hand-made file reads back, so that the hostile cases
// below start from a file the reader accepts.
func TestDecodePTHSmall(t *testing.T) {
	p := writeFile(t, t.TempDir(), "small.pth", smallPTH(t))
	named, err := decodePTH(p)
	if err != nil {
		t.Fatal(err)
	}
	defer dropAll(named)
	if len(named) != 2 {
		t.Fatalf("got %d tensors, want 2", len(named))
	}
	if got := named["w"].Float64Values(); len(got) != 6 || got[5] != 6 {
		t.Errorf("w = %v", got)
	}
	if got := named["w"].MustSize(); got[0] != 2 || got[1] != 3 {
		t.Errorf("w shape %v", got)
	}
}

// TestDecodePTHHostile: empty, zero-filled, tar, zip without data.pkl and a folder are
// refused quickly with an error naming the file (the empty file made gotch's reader loop
// forever).
func TestDecodePTHHostile(t *testing.T) {
	dir := t.TempDir()
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	tw.WriteHeader(&tar.Header{Name: "a.txt", Mode: 0o644, Size: 1})
	tw.Write([]byte("x"))
	tw.Close()
	cases := map[string][]byte{
		"empty.pth":  nil,
		"zeros.pth":  make([]byte, 1024),
		"zeros3.pth": make([]byte, 1536),
		"text.pth":   []byte("not a checkpoint\n"),
		"tar.pth":    tb.Bytes(),
	}
	var zb bytes.Buffer
	zw := zip.NewWriter(&zb)
	w, _ := zw.Create("archive/other.txt")
	w.Write([]byte("x"))
	zw.Close()
	cases["nodata.pth"] = zb.Bytes()
	for name, b := range cases {
		p := writeFile(t, dir, name, b)
		named, err := decodePTH(p)
		dropAll(named)
		if err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: got %v, want an error naming the file", name, err)
		}
	}
	if _, err := decodePTH(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("folder: %v", err)
	}
}

// TestDecodePTHTruncated cuts a small real file at every byte: each prefix is an error
// naming the file, never a hang or a panic.
func TestDecodePTHTruncated(t *testing.T) {
	full := smallPTH(t)
	dir := t.TempDir()
	for n := 0; n < len(full); n++ {
		p := writeFile(t, dir, "cut.pth", full[:n])
		named, err := decodePTH(p)
		dropAll(named)
		if err == nil {
			// A zip whose central directory survived is readable only if nothing was cut;
			// a prefix never is.
			t.Errorf("prefix of %d bytes (of %d) was accepted", n, len(full))
		} else if !strings.Contains(err.Error(), p) {
			t.Errorf("prefix of %d bytes: error does not name the file: %v", n, err)
		}
	}
}

// TestDecodePTHBadView: a shape, stride or offset reaching past the storage ended the
// process with a C++ trace; now it is an error naming the file and the key. NaN and Inf
// values are reported at load too.
func TestDecodePTHBadView(t *testing.T) {
	dir := t.TempDir()
	data := []float32{1, 2, 3, 4}
	cases := []struct {
		name string
		x    fakeTensor
		want string
	}{
		{"big_shape", fakeTensor{data: data, size: []int64{100, 100}, stride: []int64{100, 1}}, "reaches past"},
		{"big_stride", fakeTensor{data: data, size: []int64{2}, stride: []int64{4}}, "reaches past"},
		{"offset", fakeTensor{data: data, size: []int64{2}, stride: []int64{1}, offset: 3}, "reaches past"},
		{"offset_past", fakeTensor{data: data, size: []int64{1}, stride: []int64{0}, offset: 4}, "outside"},
		{"negative", fakeTensor{data: data, size: []int64{-2}, stride: []int64{1}}, "bad shape"},
		{"rank", fakeTensor{data: data, size: []int64{2, 2}, stride: []int64{1}}, "differ in length"},
		{"huge", fakeTensor{data: data, size: []int64{1 << 30, 1 << 30}, stride: []int64{0, 0}}, "too large"},
		{"nan", fakeTensor{data: []float32{1, float32(math.NaN())}, size: []int64{2}, stride: []int64{1}}, "non-finite"},
		{"inf", fakeTensor{data: []float32{float32(math.Inf(-1))}, size: []int64{1}, stride: []int64{1}}, "non-finite"},
	}
	for _, c := range cases {
		c.x.name = "layer." + c.name
		p := writeFile(t, dir, c.name+".pth", pthBytes(t, []fakeTensor{c.x}))
		named, err := decodePTH(p)
		dropAll(named)
		if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), `"layer.`+c.name+`"`) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error naming the file, the key and %q", c.name, err, c.want)
		}
	}
}

// FuzzDecodePTH: no input makes the checkpoint reader hang or panic. The seeds are the
// empty file, every prefix of a small real one and random bytes.
func FuzzDecodePTH(f *testing.F) {
	full := smallPTH(f)
	for n := 0; n <= len(full); n += 7 {
		f.Add(full[:n])
	}
	f.Add(full)
	f.Add([]byte{})
	r := rand.New(rand.NewPCG(1, 2))
	for range 8 {
		b := make([]byte, r.IntN(2048))
		for i := range b {
			b[i] = byte(r.UintN(256))
		}
		f.Add(b)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		p := writeFile(t, dir, "fuzz.pth", b)
		named, err := decodePTH(p)
		dropAll(named)
		if err != nil && !strings.Contains(err.Error(), p) {
			t.Errorf("error does not name the file: %v", err)
		}
	})
}
