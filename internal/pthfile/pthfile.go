// Package pthfile reads the state_dicts that torch.save writes (a .pth file), in both of
// its formats: the zip archive of PyTorch 1.6 and later, and the legacy stream of the
// versions before it (the format of the PyTorch SSD project's published models).
//
// It is plain Go and reads untrusted files safely: the pickle is run by a small machine
// that knows only the opcodes and the globals a state_dict needs (an OrderedDict or dict
// of tensors rebuilt from storages, as torch.load's weights_only mode allows), every
// length in the file is checked against the bytes that are really there before anything
// is allocated, and every tensor's shape, strides and offset are checked against its
// storage. No input makes it panic, loop or allocate more than the file's size allows;
// an error says where in the file the problem is.
package pthfile

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"reflect"
	"strconv"
	"strings"
)

// DType is a storage's element type, named as torch names it.
type DType string

// The element types a state_dict's storages may have.
const (
	Float32  DType = "float32"
	Float64  DType = "float64"
	Float16  DType = "float16"
	BFloat16 DType = "bfloat16"
	Int64    DType = "int64"
	Int32    DType = "int32"
	Int16    DType = "int16"
	Int8     DType = "int8"
	Uint8    DType = "uint8"
	Bool     DType = "bool"
)

// storageClasses maps torch's storage class names to the element type and its size in
// bytes.
var storageClasses = map[string]struct {
	dtype DType
	size  int
}{
	"FloatStorage":    {Float32, 4},
	"DoubleStorage":   {Float64, 8},
	"HalfStorage":     {Float16, 2},
	"BFloat16Storage": {BFloat16, 2},
	"LongStorage":     {Int64, 8},
	"IntStorage":      {Int32, 4},
	"ShortStorage":    {Int16, 2},
	"CharStorage":     {Int8, 1},
	"ByteStorage":     {Uint8, 1},
	"BoolStorage":     {Bool, 1},
}

// Tensor is one state_dict entry: a view (Size, Stride, Offset, in elements) of a
// storage whose values are Data. Data is []float32 for float32, float16 and bfloat16
// storages (the half-precision values widened exactly), []float64, []int64, []int32,
// []int16, []int8, []uint8 or []bool otherwise. The view is checked to lie within the
// storage. Tensors that share a storage share Data.
type Tensor struct {
	Name   string
	DType  DType
	Data   any
	Size   []int64
	Stride []int64
	Offset int64
}

// Numel is the number of elements of t's view.
func (t *Tensor) Numel() int64 {
	n := int64(1)
	for _, s := range t.Size {
		n *= s
	}
	return n
}

// MaxElems bounds one tensor's element count, each of its sizes and strides, far above
// any real model's, so that the bound checks cannot overflow.
const MaxElems = 1 << 40

// Read reads the state_dict of the torch.save file at path, in the order of its keys (each once).
// An entry whose storage holds no data (torch writes some for empty counters) is left
// out. Errors do not name the file; callers add it.
func Read(path string) ([]Tensor, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	return Decode(f, fi.Size())
}

// Decode reads a state_dict from the size bytes of r (see Read).
func Decode(r io.ReaderAt, size int64) ([]Tensor, error) {
	if size == 0 {
		return nil, errors.New("empty file, not a PyTorch checkpoint")
	}
	zr, zerr := zip.NewReader(r, size)
	if zerr == nil {
		return readZip(zr)
	}
	head := make([]byte, min(size, 512))
	if _, err := r.ReadAt(head, 0); err != nil && err != io.EOF {
		return nil, err
	}
	switch {
	case bytes.HasPrefix(head, []byte("PK\x03\x04")):
		return nil, fmt.Errorf("a zip archive that cannot be read (truncated?): %w", zerr)
	case isTar(head):
		return nil, errors.New("a tar archive (torch's oldest format), which is not supported: save it again with torch.save")
	case len(head) >= 512 && allZero(head):
		return nil, errors.New("starts with zero-filled blocks, not a PyTorch checkpoint (truncated or corrupt?)")
	case head[0] != 0x80:
		// torch's legacy format starts with a pickle of protocol 2 or later
		return nil, errors.New("not a PyTorch checkpoint: neither a zip archive nor torch's legacy format")
	}
	// The legacy format is read whole: its storages follow the pickle in one stream, and
	// the tensors' data is needed in memory anyway.
	b, err := io.ReadAll(io.NewSectionReader(r, 0, size))
	if err != nil {
		return nil, err
	}
	return readLegacy(b)
}

// isTar reports whether b starts with a tar header: the "ustar" magic, or a valid
// header checksum (old tar files have no magic).
func isTar(b []byte) bool {
	if len(b) < 512 || allZero(b[:512]) {
		return false
	}
	if bytes.Equal(b[257:262], []byte("ustar")) {
		return true
	}
	sum := int64(0)
	for i, c := range b[:512] {
		if i >= 148 && i < 156 {
			c = ' '
		}
		sum += int64(c)
	}
	field := strings.Trim(string(b[148:156]), " \x00")
	want, err := strconv.ParseInt(field, 8, 64)
	return err == nil && want == sum
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// storageRef is a persistent id: a storage the pickle refers to, read later.
type storageRef struct {
	key   string
	class string
	numel int64
	// a legacy view of another storage: elements [viewOffset, viewOffset+numel) of key
	view       bool
	viewOffset int64
	viewKey    string
}

// tensorRec is a tensor the pickle rebuilds, before its storage is read.
type tensorRec struct {
	storage *storageRef
	offset  int64
	size    []int64
	stride  []int64
}

// readZip reads torch.save's zip format: data.pkl and one record per storage under
// data/, all in one top folder.
func readZip(zr *zip.Reader) ([]Tensor, error) {
	records := map[string]*zip.File{}
	var pkl *zip.File
	for _, f := range zr.File {
		name := f.Name
		if i := strings.IndexByte(name, '/'); i >= 0 {
			name = name[i+1:]
		}
		records[name] = f
		if name == "data.pkl" {
			pkl = f
		}
		if name == "constants.pkl" {
			return nil, errors.New("a TorchScript archive, not a torch.save state_dict")
		}
	}
	if pkl == nil {
		return nil, errors.New("a zip archive without data.pkl, not a PyTorch checkpoint")
	}
	b, err := readRecord(pkl, -1)
	if err != nil {
		return nil, err
	}
	m := newMachine(b, "data.pkl")
	m.persistent = func(id []any) (any, error) {
		if len(id) != 5 {
			return nil, fmt.Errorf("a storage id of %d fields, want 5", len(id))
		}
		ref, err := storageID(id)
		if err != nil {
			return nil, err
		}
		return ref, nil
	}
	root, err := m.run()
	if err != nil {
		return nil, err
	}
	recs, err := stateDict(root)
	if err != nil {
		return nil, err
	}
	data := map[string]any{}
	numel := map[string]int64{}
	return materialize(recs, func(ref *storageRef) (any, error) {
		if d, ok := data[ref.key]; ok {
			if numel[ref.key] != ref.numel {
				return nil, fmt.Errorf("storage %q is given %d and %d elements", ref.key, numel[ref.key], ref.numel)
			}
			return d, nil
		}
		f := records["data/"+ref.key]
		if f == nil {
			return nil, fmt.Errorf("storage %q has no record data/%s in the archive", ref.key, ref.key)
		}
		cls := storageClasses[ref.class]
		want := ref.numel * int64(cls.size)
		if f.UncompressedSize64 != uint64(want) {
			return nil, fmt.Errorf("record data/%s holds %d bytes, but its storage of %d %s elements needs %d", ref.key, f.UncompressedSize64, ref.numel, cls.dtype, want)
		}
		b, err := readRecord(f, want)
		if err != nil {
			return nil, err
		}
		d := decodeStorage(b, ref.class)
		data[ref.key], numel[ref.key] = d, ref.numel
		return d, nil
	})
}

// readRecord reads a zip record, which must hold exactly want bytes (any size when want
// is negative), never reading more than the archive holds.
func readRecord(f *zip.File, want int64) ([]byte, error) {
	if f.Method != zip.Store {
		// torch.save stores every record uncompressed (readers map them); a compressed
		// record could expand far beyond the file, so it is refused rather than inflated.
		return nil, fmt.Errorf("record %s is compressed (method %d); torch.save stores records uncompressed", f.Name, f.Method)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("record %s: %w", f.Name, err)
	}
	defer rc.Close()
	// A stored record's size is its compressed size, which the archive's length bounds
	// (zip.Reader checks it), so reading it whole allocates no more than the file holds.
	b, err := io.ReadAll(rc)
	if err != nil {
		return nil, fmt.Errorf("record %s: %w", f.Name, err)
	}
	if want >= 0 && int64(len(b)) != want {
		return nil, fmt.Errorf("record %s holds %d bytes, want %d", f.Name, len(b), want)
	}
	return b, nil
}

// The legacy format: five pickles (a magic number, the protocol version, the system's
// description, the object, the sorted list of storage keys), then each storage in that
// order as an 8-byte element count and its raw little-endian data.
var legacyMagic = [...]byte{0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19} // 0x1950a86a20f9469cfc6c

func readLegacy(b []byte) ([]Tensor, error) {
	pos := 0
	next := func(what string) (any, *machine, error) {
		m := newMachine(b[pos:], what)
		m.base = pos
		v, err := m.run()
		pos += m.pos
		return v, m, err
	}
	magic, _, err := next("the magic number")
	if err != nil {
		return nil, fmt.Errorf("not a PyTorch checkpoint (neither a zip archive nor torch's legacy format): %w", err)
	}
	if big, ok := magic.(bigInt); !ok || !bytes.Equal(big, legacyMagic[:]) {
		return nil, errors.New("not a PyTorch checkpoint: neither a zip archive nor torch's legacy format (wrong magic number)")
	}
	version, _, err := next("the protocol version")
	if err != nil {
		return nil, err
	}
	if v, ok := version.(int64); !ok || v != 1001 {
		return nil, fmt.Errorf("legacy format protocol version %v, want 1001", version)
	}
	sys, _, err := next("the system description")
	if err != nil {
		return nil, err
	}
	if d, ok := sys.(*dict); ok {
		if le, ok := d.get("little_endian"); ok && le == false {
			return nil, errors.New("written on a big-endian machine, which is not supported")
		}
	}
	m := newMachine(b[pos:], "the state_dict pickle")
	m.base = pos
	refs := map[string]*storageRef{}
	m.persistent = func(id []any) (any, error) {
		if len(id) != 6 {
			return nil, fmt.Errorf("a storage id of %d fields, want 6", len(id))
		}
		ref, err := storageID(id[:5])
		if err != nil {
			return nil, err
		}
		if old, ok := refs[ref.key]; ok {
			if old.class != ref.class || old.numel != ref.numel {
				return nil, fmt.Errorf("storage %q is described twice, differently", ref.key)
			}
			ref = old
		} else {
			refs[ref.key] = ref
		}
		switch v := id[5].(type) {
		case nil:
			return ref, nil
		case tuple:
			// (view key, offset, size): elements [offset, offset+size) of the root storage
			if len(v) != 3 {
				return nil, fmt.Errorf("a storage view of %d fields, want 3", len(v))
			}
			vk, ok1 := v[0].(string)
			off, ok2 := v[1].(int64)
			n, ok3 := v[2].(int64)
			if !ok1 || !ok2 || !ok3 || off < 0 || n < 0 || off > ref.numel || n > ref.numel-off {
				return nil, fmt.Errorf("storage view %v outside its storage of %d elements", v, ref.numel)
			}
			return &storageRef{key: ref.key, class: ref.class, numel: n, view: true, viewOffset: off, viewKey: vk}, nil
		}
		return nil, fmt.Errorf("storage view description is a %s", typeName(id[5]))
	}
	root, err := m.run()
	pos += m.pos
	if err != nil {
		return nil, err
	}
	keysObj, _, err := next("the storage keys")
	if err != nil {
		return nil, err
	}
	keyList, ok := keysObj.(*list)
	if !ok {
		return nil, fmt.Errorf("the storage keys are a %s, not a list", typeName(keysObj))
	}
	data := map[string]any{}
	for _, k := range keyList.items {
		key, ok := k.(string)
		if !ok {
			return nil, fmt.Errorf("a storage key is a %s, not a string", typeName(k))
		}
		ref := refs[key]
		if ref == nil {
			return nil, fmt.Errorf("storage key %q is not used by the state_dict", key)
		}
		if _, dup := data[key]; dup {
			return nil, fmt.Errorf("storage key %q listed twice", key)
		}
		if len(b)-pos < 8 {
			return nil, fmt.Errorf("file ends at byte %d, before storage %q (truncated?)", len(b), key)
		}
		n := int64(binary.LittleEndian.Uint64(b[pos:]))
		if n != ref.numel {
			return nil, fmt.Errorf("storage %q at byte %d holds %d elements, but the state_dict says %d", key, pos, n, ref.numel)
		}
		pos += 8
		size := int64(storageClasses[ref.class].size)
		if n > int64(len(b)-pos)/size {
			return nil, fmt.Errorf("storage %q at byte %d needs %d bytes, the file has %d left (truncated?)", key, pos, n*size, len(b)-pos)
		}
		data[key] = decodeStorage(b[pos:pos+int(n*size)], ref.class)
		pos += int(n * size)
	}
	recs, err := stateDict(root)
	if err != nil {
		return nil, err
	}
	return materialize(recs, func(ref *storageRef) (any, error) {
		d, ok := data[ref.key]
		if !ok {
			return nil, fmt.Errorf("storage %q is not among the file's storages", ref.key)
		}
		if ref.view {
			return sliceOf(d, ref.viewOffset, ref.viewOffset+ref.numel), nil
		}
		return d, nil
	})
}

// storageID checks the first five fields of a persistent id: ('storage', class, key,
// location, numel).
func storageID(id []any) (*storageRef, error) {
	if s, ok := id[0].(string); !ok || s != "storage" {
		return nil, fmt.Errorf("a persistent id of kind %v, want \"storage\" (a whole module or another object was saved, not a state_dict)", id[0])
	}
	cls, ok := id[1].(global)
	if !ok || cls.module != "torch" {
		return nil, fmt.Errorf("a storage of class %v", id[1])
	}
	if _, ok := storageClasses[cls.name]; !ok {
		return nil, fmt.Errorf("a storage of class torch.%s, which is not supported", cls.name)
	}
	key, ok1 := id[2].(string)
	_, ok2 := id[3].(string)
	n, ok3 := id[4].(int64)
	if !ok1 || !ok2 || !ok3 {
		return nil, fmt.Errorf("a storage id %v: want (\"storage\", class, key, location, element count)", id)
	}
	if n < 0 || n > MaxElems {
		return nil, fmt.Errorf("storage %q of %d elements", key, n)
	}
	return &storageRef{key: key, class: cls.name, numel: n}, nil
}

// namedRec is one state_dict entry before its storage is read.
type namedRec struct {
	name string
	rec  *tensorRec
}

// stateDict checks that the pickle's object is an OrderedDict or dict of tensors.
func stateDict(root any) ([]namedRec, error) {
	d, ok := root.(*dict)
	if !ok {
		return nil, fmt.Errorf("not a state_dict (an OrderedDict of tensors): holds a %s", typeName(root))
	}
	out := make([]namedRec, 0, len(d.keys))
	for i, k := range d.keys {
		name, ok := k.(string)
		if !ok {
			return nil, fmt.Errorf("not a state_dict: key %v is a %s, not a string", k, typeName(k))
		}
		rec, ok := d.values[i].(*tensorRec)
		if !ok {
			return nil, fmt.Errorf("not a state_dict: key %q holds a %s, not a tensor", name, typeName(d.values[i]))
		}
		out = append(out, namedRec{name, rec})
	}
	return out, nil
}

// materialize reads each entry's storage and checks its view.
func materialize(recs []namedRec, storage func(*storageRef) (any, error)) ([]Tensor, error) {
	out := make([]Tensor, 0, len(recs))
	for _, r := range recs {
		if r.rec.storage.numel == 0 {
			continue
		}
		d, err := storage(r.rec.storage)
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", r.name, err)
		}
		if err := CheckView(r.rec.size, r.rec.stride, r.rec.offset, r.rec.storage.numel); err != nil {
			return nil, fmt.Errorf("key %q: %w", r.name, err)
		}
		out = append(out, Tensor{
			Name:   r.name,
			DType:  storageClasses[r.rec.storage.class].dtype,
			Data:   d,
			Size:   r.rec.size,
			Stride: r.rec.stride,
			Offset: r.rec.offset,
		})
	}
	return out, nil
}

// CheckView reports whether a view of shape size, strides stride at offset fits a
// storage of n elements.
func CheckView(size, stride []int64, offset, n int64) error {
	if len(size) != len(stride) {
		return fmt.Errorf("shape %v and strides %v differ in length", size, stride)
	}
	if offset < 0 || offset > n {
		return fmt.Errorf("storage offset %d outside its storage of %d elements", offset, n)
	}
	last, numel := offset, int64(1)
	for i := range size {
		if size[i] < 0 || size[i] > MaxElems || stride[i] < 0 || stride[i] > MaxElems {
			return fmt.Errorf("bad shape %v or strides %v", size, stride)
		}
		if numel *= size[i]; numel > MaxElems {
			return fmt.Errorf("shape %v too large", size)
		}
	}
	if numel == 0 {
		return nil
	}
	if offset >= n {
		return fmt.Errorf("storage offset %d outside its storage of %d elements", offset, n)
	}
	for i := range size {
		// last < n here, so (n-1-last)/stride cannot overflow, nor can the product after it.
		if stride[i] != 0 && size[i]-1 > (n-1-last)/stride[i] {
			return fmt.Errorf("shape %v with strides %v at offset %d reaches past its storage of %d elements", size, stride, offset, n)
		}
		last += (size[i] - 1) * stride[i]
	}
	return nil
}

// decodeStorage turns a storage's little-endian bytes into a Go slice (see Tensor).
func decodeStorage(b []byte, class string) any {
	le := binary.LittleEndian
	switch class {
	case "FloatStorage":
		return decodeAll(b, 4, func(x []byte) float32 { return math.Float32frombits(le.Uint32(x)) })
	case "DoubleStorage":
		return decodeAll(b, 8, func(x []byte) float64 { return math.Float64frombits(le.Uint64(x)) })
	case "HalfStorage":
		return decodeAll(b, 2, func(x []byte) float32 { return halfToFloat(le.Uint16(x)) })
	case "BFloat16Storage":
		return decodeAll(b, 2, func(x []byte) float32 { return math.Float32frombits(uint32(le.Uint16(x)) << 16) })
	case "LongStorage":
		return decodeAll(b, 8, func(x []byte) int64 { return int64(le.Uint64(x)) })
	case "IntStorage":
		return decodeAll(b, 4, func(x []byte) int32 { return int32(le.Uint32(x)) })
	case "ShortStorage":
		return decodeAll(b, 2, func(x []byte) int16 { return int16(le.Uint16(x)) })
	case "CharStorage":
		return decodeAll(b, 1, func(x []byte) int8 { return int8(x[0]) })
	case "ByteStorage":
		return append([]uint8(nil), b...)
	case "BoolStorage":
		return decodeAll(b, 1, func(x []byte) bool { return x[0] != 0 })
	}
	panic("pthfile: storage class " + class + " passed storageID's check but has no decoder")
}

// decodeAll decodes the elements of size bytes each that b holds.
func decodeAll[T any](b []byte, size int, elem func([]byte) T) []T {
	d := make([]T, len(b)/size)
	for i := range d {
		d[i] = elem(b[size*i:])
	}
	return d
}

// sliceOf returns d[lo:hi] for any of decodeStorage's slice types.
func sliceOf(d any, lo, hi int64) any {
	return reflect.ValueOf(d).Slice(int(lo), int(hi)).Interface()
}

// halfToFloat widens an IEEE 754 half-precision value exactly.
func halfToFloat(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	frac := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // Inf, NaN
		return math.Float32frombits(sign | 0xff<<23 | frac<<13)
	case exp == 0 && frac == 0:
		return math.Float32frombits(sign)
	case exp == 0: // subnormal: frac × 2^-24
		v := float32(frac) / (1 << 24)
		if sign != 0 {
			v = -v
		}
		return v
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | frac<<13)
}
