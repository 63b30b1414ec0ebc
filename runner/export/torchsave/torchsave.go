// Package torchsave writes a state_dict (an ordered map from names to tensors) in the
// file format of torch.save since PyTorch 1.6: a zip archive (stored, not compressed)
// holding data.pkl, a pickle (protocol 2) of a collections.OrderedDict whose values are
// torch._utils._rebuild_tensor_v2 calls on persistent storages, one record per storage
// under data/, and a version record. torch.load (1.6 and later, including the
// weights_only loader of 2.x) and internal/pthfile read it.
//
// It is plain Go: callers hand it each tensor's shape and values.
package torchsave

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"strconv"
)

// Tensor is one state_dict entry: a contiguous tensor of Dims (empty: a scalar) with
// Data []float32 (torch.float32) or []int64 (torch.int64).
type Tensor struct {
	Name string
	Dims []int64
	Data any
}

// storageType returns torch's storage class name and the element size for t's data.
func (t *Tensor) storageType() (string, int, []byte, error) {
	switch v := t.Data.(type) {
	case []float32:
		b := make([]byte, 4*len(v))
		for i, f := range v {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
		}
		return "FloatStorage", len(v), b, nil
	case []int64:
		b := make([]byte, 8*len(v))
		for i, x := range v {
			binary.LittleEndian.PutUint64(b[8*i:], uint64(x))
		}
		return "LongStorage", len(v), b, nil
	}
	return "", 0, nil, fmt.Errorf("torchsave: %s: unsupported data %T", t.Name, t.Data)
}

// archive is the name of the zip's top folder (torch.save uses the file's stem or
// "archive"; readers take whatever the records share).
const archive = "archive"

// alignment is where torch.save starts each record's data (a multiple of 64 bytes from
// the start of the file), padding the local header's extra field; readers that map the
// file rely on it.
const alignment = 64

// Write writes the state_dict to w in torch.save's zip format. Names must be unique
// and each tensor's values must fill its dimensions.
func Write(w io.Writer, tensors []Tensor) error {
	seen := map[string]bool{}
	type rec struct {
		name string
		data []byte
	}
	var recs []rec
	var p pickler
	p.proto()
	p.global("collections", "OrderedDict")
	p.op(opEmptyTuple)
	p.op(opReduce)
	p.op(opMark)
	for i := range tensors {
		t := &tensors[i]
		if seen[t.Name] {
			return fmt.Errorf("torchsave: key %q twice", t.Name)
		}
		seen[t.Name] = true
		n := int64(1)
		for _, d := range t.Dims {
			if d < 0 {
				return fmt.Errorf("torchsave: %s: negative dimension in %v", t.Name, t.Dims)
			}
			n *= d
		}
		typ, numel, data, err := t.storageType()
		if err != nil {
			return err
		}
		if int64(numel) != n {
			return fmt.Errorf("torchsave: %s: %d values for dimensions %v (%d)", t.Name, numel, t.Dims, n)
		}
		key := strconv.Itoa(len(recs))
		recs = append(recs, rec{name: archive + "/data/" + key, data: data})

		p.unicode(t.Name)
		p.global("torch._utils", "_rebuild_tensor_v2")
		p.op(opMark)
		// the persistent id: ('storage', storage class, key, location, numel)
		p.op(opMark)
		p.unicode("storage")
		p.global("torch", typ)
		p.unicode(key)
		p.unicode("cpu")
		p.int(int64(numel))
		p.op(opTuple)
		p.op(opBinPersID)
		p.int(0) // storage offset
		p.ints(t.Dims)
		p.ints(contiguousStrides(t.Dims))
		p.op(opNewFalse) // requires_grad
		p.global("collections", "OrderedDict")
		p.op(opEmptyTuple)
		p.op(opReduce) // backward hooks
		p.op(opTuple)
		p.op(opReduce)
	}
	p.op(opSetItems)
	p.op(opStop)

	cw := &countWriter{}
	zw := zip.NewWriter(io.MultiWriter(w, cw))
	all := append([]rec{{archive + "/data.pkl", p.buf.Bytes()}}, recs...)
	all = append(all, rec{archive + "/version", []byte("3\n")})
	for _, r := range all {
		if err := storeAligned(zw, cw, r.name, r.data); err != nil {
			return err
		}
	}
	return zw.Close()
}

// storeAligned adds an uncompressed record whose data starts at a multiple of alignment.
func storeAligned(zw *zip.Writer, cw *countWriter, name string, data []byte) error {
	if err := zw.Flush(); err != nil {
		return err
	}
	const localHeader = 30
	const extraHeader = 4 // id and size of the padding field
	start := cw.n + localHeader + int64(len(name)) + extraHeader
	pad := (alignment - start%alignment) % alignment
	extra := make([]byte, extraHeader+pad)
	binary.LittleEndian.PutUint16(extra[0:], 0x4246) // "FB", torch.save's padding field
	binary.LittleEndian.PutUint16(extra[2:], uint16(pad))
	fw, err := zw.CreateRaw(&zip.FileHeader{
		Name:               name,
		Method:             zip.Store,
		CRC32:              crc32.ChecksumIEEE(data),
		CompressedSize64:   uint64(len(data)),
		UncompressedSize64: uint64(len(data)),
		Extra:              extra,
	})
	if err != nil {
		return err
	}
	_, err = fw.Write(data)
	return err
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}

// contiguousStrides returns the row-major strides of dims.
func contiguousStrides(dims []int64) []int64 {
	s := make([]int64, len(dims))
	acc := int64(1)
	for i := len(dims) - 1; i >= 0; i-- {
		s[i] = acc
		acc *= max(dims[i], 1)
	}
	return s
}

// Pickle opcodes (protocol 2).
const (
	opMark       = '('
	opStop       = '.'
	opBinInt     = 'J'
	opBinInt1    = 'K'
	opBinInt2    = 'M'
	opLong1      = 0x8a
	opBinUnicode = 'X'
	opGlobal     = 'c'
	opEmptyTuple = ')'
	opTuple      = 't'
	opReduce     = 'R'
	opSetItems   = 'u'
	opBinPersID  = 'Q'
	opNewFalse   = 0x89
	opProto      = 0x80
)

type pickler struct{ buf bytes.Buffer }

func (p *pickler) op(o byte) { p.buf.WriteByte(o) }

func (p *pickler) proto() { p.buf.Write([]byte{opProto, 2}) }

func (p *pickler) global(module, name string) {
	p.op(opGlobal)
	p.buf.WriteString(module + "\n" + name + "\n")
}

func (p *pickler) unicode(s string) {
	p.op(opBinUnicode)
	var n [4]byte
	binary.LittleEndian.PutUint32(n[:], uint32(len(s)))
	p.buf.Write(n[:])
	p.buf.WriteString(s)
}

func (p *pickler) int(v int64) {
	switch {
	case v >= 0 && v < 1<<8:
		p.buf.Write([]byte{opBinInt1, byte(v)})
	case v >= 0 && v < 1<<16:
		p.op(opBinInt2)
		var b [2]byte
		binary.LittleEndian.PutUint16(b[:], uint16(v))
		p.buf.Write(b[:])
	case v >= math.MinInt32 && v <= math.MaxInt32:
		p.op(opBinInt)
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], uint32(int32(v)))
		p.buf.Write(b[:])
	default:
		// LONG1: a little-endian two's-complement integer of 8 bytes
		p.buf.Write([]byte{opLong1, 8})
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], uint64(v))
		p.buf.Write(b[:])
	}
}

// ints pickles a tuple of ints.
func (p *pickler) ints(vs []int64) {
	if len(vs) == 0 {
		p.op(opEmptyTuple)
		return
	}
	p.op(opMark)
	for _, v := range vs {
		p.int(v)
	}
	p.op(opTuple)
}
