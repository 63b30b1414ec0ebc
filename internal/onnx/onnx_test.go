package onnx

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

// field is one decoded protobuf field: a varint, fixed32 or bytes value.
type field struct {
	num   protowire.Number
	v     uint64
	bytes []byte
}

// decode splits a message into its fields, failing t on malformed input.
func decode(t *testing.T, b []byte) []field {
	t.Helper()
	var out []field
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			t.Fatalf("bad tag: %v", protowire.ParseError(n))
		}
		b = b[n:]
		f := field{num: num}
		switch typ {
		case protowire.VarintType:
			f.v, n = protowire.ConsumeVarint(b)
		case protowire.Fixed32Type:
			var v uint32
			v, n = protowire.ConsumeFixed32(b)
			f.v = uint64(v)
		case protowire.BytesType:
			f.bytes, n = protowire.ConsumeBytes(b)
		default:
			t.Fatalf("unexpected wire type %v", typ)
		}
		if n < 0 {
			t.Fatalf("bad field %d: %v", num, protowire.ParseError(n))
		}
		b = b[n:]
		out = append(out, f)
	}
	return out
}

func fieldsNamed(fs []field, num protowire.Number) []field {
	var out []field
	for _, f := range fs {
		if f.num == num {
			out = append(out, f)
		}
	}
	return out
}

func tinyGraph(t *testing.T) *Graph {
	t.Helper()
	g := NewGraph("tiny")
	x, err := g.Input(ValueInfo{Name: "x", Type: Float32, Dims: []Dim{{Param: "batch"}, {Value: 2}}})
	if err != nil {
		t.Fatal(err)
	}
	w := g.Floats32("w", []int64{2}, []float32{1, -2})
	y := g.Add("Mul", []string{x, w})
	z := g.Add("Softmax", []string{y}, Int("axis", 1))
	if err := g.Rename(z, "probs"); err != nil {
		t.Fatal(err)
	}
	g.Output(ValueInfo{Name: "probs", Type: Float32, Dims: []Dim{{Param: "batch"}, {Value: 2}}})
	return g
}

// TestMarshal encodes a small model and decodes it field by field with onnx.proto's
// numbers: IR version, opset, graph with its node, initializer, input and output.
func TestMarshal(t *testing.T) {
	m := &Model{Graph: tinyGraph(t), Opset: 13, ProducerName: "test", Metadata: map[string]string{"b": "2", "a": "1"}}
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	top := decode(t, b)
	if ir := fieldsNamed(top, modelIRVersion); len(ir) != 1 || ir[0].v != 7 {
		t.Errorf("ir_version %+v, want 7", ir)
	}
	ops := fieldsNamed(top, modelOpsetImport)
	if len(ops) != 1 {
		t.Fatalf("opset_import %+v", ops)
	}
	if v := fieldsNamed(decode(t, ops[0].bytes), opsetVersion); len(v) != 1 || v[0].v != 13 {
		t.Errorf("opset version %+v", v)
	}
	props := fieldsNamed(top, modelMetadataProps)
	if len(props) != 2 || string(fieldsNamed(decode(t, props[0].bytes), entryKey)[0].bytes) != "a" {
		t.Errorf("metadata not sorted by key: %+v", props)
	}
	graphs := fieldsNamed(top, modelGraph)
	if len(graphs) != 1 {
		t.Fatalf("graph %+v", graphs)
	}
	g := decode(t, graphs[0].bytes)
	nodes := fieldsNamed(g, graphNode)
	if len(nodes) != 2 {
		t.Fatalf("%d nodes, want 2", len(nodes))
	}
	sm := decode(t, nodes[1].bytes)
	if op := string(fieldsNamed(sm, nodeOpType)[0].bytes); op != "Softmax" {
		t.Errorf("second node %s", op)
	}
	if out := string(fieldsNamed(sm, nodeOutput)[0].bytes); out != "probs" {
		t.Errorf("renamed output %q", out)
	}
	attr := decode(t, fieldsNamed(sm, nodeAttribute)[0].bytes)
	if string(fieldsNamed(attr, attrName)[0].bytes) != "axis" || fieldsNamed(attr, attrI)[0].v != 1 || fieldsNamed(attr, attrType)[0].v != uint64(attrInt) {
		t.Errorf("axis attribute %+v", attr)
	}
	inits := fieldsNamed(g, graphInitializer)
	if len(inits) != 1 {
		t.Fatalf("%d initializers", len(inits))
	}
	it := decode(t, inits[0].bytes)
	raw := fieldsNamed(it, tensorRawData)[0].bytes
	// 1.0 and -2.0 as little-endian float32
	if string(raw) != "\x00\x00\x80\x3f\x00\x00\x00\xc0" || fieldsNamed(it, tensorDataType)[0].v != 1 || fieldsNamed(it, tensorDims)[0].v != 2 {
		t.Errorf("initializer %+v", it)
	}
	in := decode(t, fieldsNamed(g, graphInput)[0].bytes)
	typ := decode(t, fieldsNamed(in, valueType)[0].bytes)
	tt := decode(t, fieldsNamed(typ, typeTensorType)[0].bytes)
	dims := fieldsNamed(decode(t, fieldsNamed(tt, tensorShape)[0].bytes), shapeDim)
	if len(dims) != 2 || string(fieldsNamed(decode(t, dims[0].bytes), dimParam)[0].bytes) != "batch" || fieldsNamed(decode(t, dims[1].bytes), dimValue)[0].v != 2 {
		t.Errorf("input shape %+v", dims)
	}
}

func TestCheckErrors(t *testing.T) {
	cases := []struct {
		name  string
		build func(g *Graph)
		want  string
	}{
		{"undefined input", func(g *Graph) { g.Add("Relu", []string{"nowhere"}) }, `reads "nowhere" before anything defines it`},
		{"missing output", func(g *Graph) { g.Output(ValueInfo{Name: "y"}) }, `output "y" is never produced`},
		{"bad initializer", func(g *Graph) { g.Floats32("w", []int64{3}, []float32{1}) }, "1 values for dimensions [3]"},
		{"wrong data", func(g *Graph) { g.Const("w", Tensor{Dims: []int64{1}, Type: Int64, Data: []float32{1}}) }, "float32 data for type int64"},
	}
	for _, c := range cases {
		g := NewGraph("g")
		c.build(g)
		if err := g.Check(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
	g := NewGraph("g")
	if _, err := g.Input(ValueInfo{Name: "x"}); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Input(ValueInfo{Name: "x"}); err == nil {
		t.Error("a second input named x was accepted")
	}
	if err := g.Rename("x_missing", "y"); err == nil {
		t.Error("renaming a value no node outputs was accepted")
	}
	if _, err := (&Model{Graph: g, Opset: 99}).Marshal(); err == nil || !strings.Contains(err.Error(), "opset 99") {
		t.Errorf("opset 99: %v", err)
	}
}

func TestFresh(t *testing.T) {
	g := NewGraph("g")
	a, b, c := g.Fresh("Conv"), g.Fresh("Conv"), g.Fresh("Conv")
	if a != "Conv" || b != "Conv_1" || c != "Conv_2" {
		t.Errorf("fresh names %q %q %q", a, b, c)
	}
}
