// Package onnx builds ONNX models (graphs of operator nodes with their weights as
// initializers) and encodes them in ONNX's protobuf format, written field by field with
// protowire from the field numbers of onnx.proto (no generated code). It holds no tensor
// code of its own: callers hand it float32 / int64 values.
//
// Only what an exported network needs is covered: a model with one graph and one opset
// import of the default domain, float32 and int64 tensors, nodes with int, float, string,
// ints, floats and tensor attributes, and graph inputs / outputs with fixed or symbolic
// dimensions. Marshal checks the graph first (every node input defined before use, every
// output produced, names unique), so a builder's mistake is an error here rather than
// a runtime's refusal later.
package onnx

import (
	"encoding/binary"
	"fmt"
	"math"
	"sort"
	"strconv"
)

// DataType is an ONNX TensorProto.DataType.
type DataType int32

// The element types used here.
const (
	Float32 DataType = 1
	Int64   DataType = 7
)

func (d DataType) String() string {
	switch d {
	case Float32:
		return "float32"
	case Int64:
		return "int64"
	}
	return "DataType(" + strconv.Itoa(int(d)) + ")"
}

// IRVersion returns the IR version that goes with an opset of the default domain (the
// oldest IR that defines it, so that older runtimes accept the file).
func IRVersion(opset int64) (int64, error) {
	switch {
	case opset >= 7 && opset <= 8:
		return 3, nil
	case opset == 9:
		return 4, nil
	case opset == 10:
		return 5, nil
	case opset == 11:
		return 6, nil
	case opset >= 12 && opset <= 14:
		return 7, nil
	case opset >= 15 && opset <= 18:
		return 8, nil
	}
	return 0, fmt.Errorf("onnx: opset %d is not supported (7 to 18)", opset)
}

// Tensor is a constant: an initializer or a tensor attribute. Data is []float32 for Float32
// and []int64 for Int64, in row-major order.
type Tensor struct {
	Name string
	Dims []int64
	Type DataType
	Data any
}

func (t *Tensor) check() error {
	n := int64(1)
	for _, d := range t.Dims {
		if d < 0 {
			return fmt.Errorf("tensor %q: negative dimension in %v", t.Name, t.Dims)
		}
		n *= d
	}
	var got int
	switch v := t.Data.(type) {
	case []float32:
		if t.Type != Float32 {
			return fmt.Errorf("tensor %q: float32 data for type %v", t.Name, t.Type)
		}
		got = len(v)
	case []int64:
		if t.Type != Int64 {
			return fmt.Errorf("tensor %q: int64 data for type %v", t.Name, t.Type)
		}
		got = len(v)
	default:
		return fmt.Errorf("tensor %q: unsupported data %T", t.Name, t.Data)
	}
	if int64(got) != n {
		return fmt.Errorf("tensor %q: %d values for dimensions %v (%d)", t.Name, got, t.Dims, n)
	}
	return nil
}

// raw returns the values as little-endian bytes (TensorProto.raw_data).
func (t *Tensor) raw() []byte {
	switch v := t.Data.(type) {
	case []float32:
		b := make([]byte, 4*len(v))
		for i, f := range v {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
		}
		return b
	case []int64:
		b := make([]byte, 8*len(v))
		for i, x := range v {
			binary.LittleEndian.PutUint64(b[8*i:], uint64(x))
		}
		return b
	}
	return nil
}

// Dim is one dimension of a graph input or output: a fixed size, or (Value 0) a symbolic
// one named Param, such as the batch size.
type Dim struct {
	Value int64
	Param string
}

// ValueInfo describes a graph input or output.
type ValueInfo struct {
	Name string
	Type DataType
	Dims []Dim
	Doc  string
}

// attrKind is AttributeProto.AttributeType.
type attrKind int32

const (
	attrFloat  attrKind = 1
	attrInt    attrKind = 2
	attrString attrKind = 3
	attrTensor attrKind = 4
	attrFloats attrKind = 6
	attrInts   attrKind = 7
)

// Attr is a node attribute; make one with Int, Ints, Float, Floats, String or TensorAttr.
type Attr struct {
	Name   string
	kind   attrKind
	i      int64
	f      float32
	s      string
	ints   []int64
	floats []float32
	t      *Tensor
}

// Int is an int attribute.
func Int(name string, v int64) Attr { return Attr{Name: name, kind: attrInt, i: v} }

// Ints is an ints attribute.
func Ints(name string, v ...int64) Attr { return Attr{Name: name, kind: attrInts, ints: v} }

// Float is a float attribute.
func Float(name string, v float32) Attr { return Attr{Name: name, kind: attrFloat, f: v} }

// Floats is a floats attribute.
func Floats(name string, v ...float32) Attr { return Attr{Name: name, kind: attrFloats, floats: v} }

// String is a string attribute.
func String(name, v string) Attr { return Attr{Name: name, kind: attrString, s: v} }

// TensorAttr is a tensor attribute (e.g. Constant's value).
func TensorAttr(name string, t Tensor) Attr { return Attr{Name: name, kind: attrTensor, t: &t} }

// Node is one operator application.
type Node struct {
	Op      string
	Name    string
	Inputs  []string // "" for an optional input left out
	Outputs []string
	Attrs   []Attr
}

// Graph is an ONNX graph under construction. Value names are unique within it: the
// builder methods make fresh ones from a stem.
type Graph struct {
	Name         string
	Doc          string
	Nodes        []Node
	Initializers []Tensor
	Inputs       []ValueInfo
	Outputs      []ValueInfo

	used  map[string]bool
	count map[string]int
}

// NewGraph returns an empty graph.
func NewGraph(name string) *Graph {
	return &Graph{Name: name, used: map[string]bool{}, count: map[string]int{}}
}

// Fresh returns a value name not used yet in g, stem itself if free, else stem_N.
func (g *Graph) Fresh(stem string) string {
	if stem == "" {
		stem = "v"
	}
	name := stem
	for g.used[name] {
		g.count[stem]++
		name = stem + "_" + strconv.Itoa(g.count[stem])
	}
	g.used[name] = true
	return name
}

// Input declares a graph input and returns its name (which must be free).
func (g *Graph) Input(v ValueInfo) (string, error) {
	if g.used[v.Name] {
		return "", fmt.Errorf("onnx: input name %q already used", v.Name)
	}
	g.used[v.Name] = true
	g.Inputs = append(g.Inputs, v)
	return v.Name, nil
}

// Output declares value as a graph output under its own name.
func (g *Graph) Output(v ValueInfo) { g.Outputs = append(g.Outputs, v) }

// Rename gives the value produced under old the new name (free, or old itself): the node
// that outputs old outputs it as name instead, and later inputs follow. Use it to name a
// graph output.
func (g *Graph) Rename(old, name string) error {
	if old == name {
		return nil
	}
	if g.used[name] {
		return fmt.Errorf("onnx: name %q already used", name)
	}
	found := false
	for i := range g.Nodes {
		n := &g.Nodes[i]
		for j, o := range n.Outputs {
			if o == old {
				n.Outputs[j], found = name, true
			}
		}
		for j, in := range n.Inputs {
			if in == old {
				n.Inputs[j] = name
			}
		}
	}
	if !found {
		return fmt.Errorf("onnx: no node outputs %q", old)
	}
	g.used[name] = true
	return nil
}

// Const adds an initializer named from stem and returns its name.
func (g *Graph) Const(stem string, t Tensor) string {
	t.Name = g.Fresh(stem)
	g.Initializers = append(g.Initializers, t)
	return t.Name
}

// Floats32 adds a float32 initializer of the given dimensions.
func (g *Graph) Floats32(stem string, dims []int64, v []float32) string {
	return g.Const(stem, Tensor{Dims: dims, Type: Float32, Data: v})
}

// Scalar adds a float32 scalar (0-dimensional) initializer.
func (g *Graph) Scalar(stem string, v float32) string {
	return g.Floats32(stem, nil, []float32{v})
}

// Int64s adds a one-dimensional int64 initializer.
func (g *Graph) Int64s(stem string, v ...int64) string {
	return g.Const(stem, Tensor{Dims: []int64{int64(len(v))}, Type: Int64, Data: v})
}

// Add appends a node of op with one output, named from op, and returns the output.
func (g *Graph) Add(op string, inputs []string, attrs ...Attr) string {
	return g.AddN(op, inputs, 1, attrs...)[0]
}

// AddN appends a node of op with n outputs and returns them.
func (g *Graph) AddN(op string, inputs []string, n int, attrs ...Attr) []string {
	outs := make([]string, n)
	for i := range outs {
		outs[i] = g.Fresh(op)
	}
	g.Nodes = append(g.Nodes, Node{Op: op, Name: g.Fresh("n_" + op), Inputs: append([]string(nil), inputs...), Outputs: outs, Attrs: attrs})
	return outs
}

// Check verifies the graph: initializers well formed, unique names, every node input an
// input, initializer or earlier node's output, and every graph output produced.
func (g *Graph) Check() error {
	known := map[string]string{}
	def := func(name, what string) error {
		if name == "" {
			return fmt.Errorf("onnx: graph %q: empty name for %s", g.Name, what)
		}
		if prev, ok := known[name]; ok {
			return fmt.Errorf("onnx: graph %q: %q is both %s and %s", g.Name, name, prev, what)
		}
		known[name] = what
		return nil
	}
	for _, in := range g.Inputs {
		if err := def(in.Name, "a graph input"); err != nil {
			return err
		}
	}
	for i := range g.Initializers {
		t := &g.Initializers[i]
		if err := t.check(); err != nil {
			return fmt.Errorf("onnx: graph %q: %w", g.Name, err)
		}
		if err := def(t.Name, "an initializer"); err != nil {
			return err
		}
	}
	for _, n := range g.Nodes {
		for _, in := range n.Inputs {
			if _, ok := known[in]; !ok && in != "" {
				return fmt.Errorf("onnx: graph %q: node %s (%s) reads %q before anything defines it", g.Name, n.Name, n.Op, in)
			}
		}
		for _, a := range n.Attrs {
			if a.t != nil {
				if err := a.t.check(); err != nil {
					return fmt.Errorf("onnx: graph %q: node %s: %w", g.Name, n.Name, err)
				}
			}
		}
		for _, o := range n.Outputs {
			if err := def(o, "an output of node "+n.Name); err != nil {
				return err
			}
		}
	}
	for _, o := range g.Outputs {
		if _, ok := known[o.Name]; !ok {
			return fmt.Errorf("onnx: graph %q: output %q is never produced", g.Name, o.Name)
		}
	}
	return nil
}

// Model is a whole ONNX file: one graph and the opset of the default domain it uses.
type Model struct {
	Graph           *Graph
	Opset           int64
	ProducerName    string
	ProducerVersion string
	Doc             string
	// Metadata goes into metadata_props (written sorted by key).
	Metadata map[string]string
}

// Marshal checks the graph and encodes the model.
func (m *Model) Marshal() ([]byte, error) {
	if m.Graph == nil {
		return nil, fmt.Errorf("onnx: model without a graph")
	}
	ir, err := IRVersion(m.Opset)
	if err != nil {
		return nil, err
	}
	if err := m.Graph.Check(); err != nil {
		return nil, err
	}
	var b []byte
	b = appendVarintField(b, modelIRVersion, uint64(ir))
	b = appendStringField(b, modelProducerName, m.ProducerName)
	b = appendStringField(b, modelProducerVersion, m.ProducerVersion)
	b = appendStringField(b, modelDocString, m.Doc)
	b = appendMessage(b, modelGraph, encodeGraph(m.Graph))
	var opset []byte
	opset = appendVarintField(opset, opsetVersion, uint64(m.Opset))
	b = appendMessage(b, modelOpsetImport, opset)
	keys := make([]string, 0, len(m.Metadata))
	for k := range m.Metadata {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		var e []byte
		e = appendStringField(e, entryKey, k)
		e = appendStringField(e, entryValue, m.Metadata[k])
		b = appendMessage(b, modelMetadataProps, e)
	}
	return b, nil
}
