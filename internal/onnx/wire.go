package onnx

import (
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// Field numbers of onnx.proto (the ONNX IR specification's protobuf schema).
const (
	// ModelProto
	modelIRVersion       = 1
	modelProducerName    = 2
	modelProducerVersion = 3
	modelDocString       = 6
	modelGraph           = 7
	modelOpsetImport     = 8
	modelMetadataProps   = 14
	// OperatorSetIdProto (domain = 1 is left empty: the default domain)
	opsetVersion = 2
	// StringStringEntryProto
	entryKey   = 1
	entryValue = 2
	// GraphProto
	graphNode        = 1
	graphName        = 2
	graphInitializer = 5
	graphDocString   = 10
	graphInput       = 11
	graphOutput      = 12
	// NodeProto
	nodeInput     = 1
	nodeOutput    = 2
	nodeName      = 3
	nodeOpType    = 4
	nodeAttribute = 5
	// AttributeProto
	attrName    = 1
	attrF       = 2
	attrI       = 3
	attrS       = 4
	attrT       = 5
	attrFloatsF = 7
	attrIntsF   = 8
	attrType    = 20
	// TensorProto
	tensorDims     = 1
	tensorDataType = 2
	tensorName     = 8
	tensorRawData  = 9
	// ValueInfoProto
	valueName      = 1
	valueType      = 2
	valueDocString = 3
	// TypeProto / TypeProto.Tensor / TensorShapeProto / TensorShapeProto.Dimension
	typeTensorType = 1
	tensorElemType = 1
	tensorShape    = 2
	shapeDim       = 1
	dimValue       = 1
	dimParam       = 2
)

func appendVarintField(b []byte, num protowire.Number, v uint64) []byte {
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

// appendStringField writes a string field, leaving an empty one out (proto's default).
func appendStringField(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

// appendRepeatedString writes each element, empty ones included (a node's left-out
// optional input is an empty name in its place).
func appendRepeatedString(b []byte, num protowire.Number, ss []string) []byte {
	for _, s := range ss {
		b = protowire.AppendTag(b, num, protowire.BytesType)
		b = protowire.AppendString(b, s)
	}
	return b
}

func appendMessage(b []byte, num protowire.Number, msg []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, msg)
}

func encodeGraph(g *Graph) []byte {
	var b []byte
	for i := range g.Nodes {
		b = appendMessage(b, graphNode, encodeNode(&g.Nodes[i]))
	}
	b = appendStringField(b, graphName, g.Name)
	for i := range g.Initializers {
		b = appendMessage(b, graphInitializer, encodeTensor(&g.Initializers[i]))
	}
	b = appendStringField(b, graphDocString, g.Doc)
	for i := range g.Inputs {
		b = appendMessage(b, graphInput, encodeValueInfo(&g.Inputs[i]))
	}
	for i := range g.Outputs {
		b = appendMessage(b, graphOutput, encodeValueInfo(&g.Outputs[i]))
	}
	return b
}

func encodeNode(n *Node) []byte {
	var b []byte
	b = appendRepeatedString(b, nodeInput, n.Inputs)
	b = appendRepeatedString(b, nodeOutput, n.Outputs)
	b = appendStringField(b, nodeName, n.Name)
	b = appendStringField(b, nodeOpType, n.Op)
	for i := range n.Attrs {
		b = appendMessage(b, nodeAttribute, encodeAttr(&n.Attrs[i]))
	}
	return b
}

func encodeAttr(a *Attr) []byte {
	var b []byte
	b = appendStringField(b, attrName, a.Name)
	switch a.kind {
	case attrFloat:
		b = protowire.AppendTag(b, attrF, protowire.Fixed32Type)
		b = protowire.AppendFixed32(b, math.Float32bits(a.f))
	case attrInt:
		b = appendVarintField(b, attrI, uint64(a.i))
	case attrString:
		b = protowire.AppendTag(b, attrS, protowire.BytesType)
		b = protowire.AppendString(b, a.s)
	case attrTensor:
		b = appendMessage(b, attrT, encodeTensor(a.t))
	case attrFloats:
		// repeated float, unpacked (proto2 without [packed = true])
		for _, f := range a.floats {
			b = protowire.AppendTag(b, attrFloatsF, protowire.Fixed32Type)
			b = protowire.AppendFixed32(b, math.Float32bits(f))
		}
	case attrInts:
		for _, v := range a.ints {
			b = appendVarintField(b, attrIntsF, uint64(v))
		}
	}
	return appendVarintField(b, attrType, uint64(a.kind))
}

func encodeTensor(t *Tensor) []byte {
	var b []byte
	for _, d := range t.Dims {
		b = appendVarintField(b, tensorDims, uint64(d))
	}
	b = appendVarintField(b, tensorDataType, uint64(t.Type))
	b = appendStringField(b, tensorName, t.Name)
	b = protowire.AppendTag(b, tensorRawData, protowire.BytesType)
	return protowire.AppendBytes(b, t.raw())
}

func encodeValueInfo(v *ValueInfo) []byte {
	var shape []byte
	for _, d := range v.Dims {
		var db []byte
		if d.Param != "" {
			db = appendStringField(db, dimParam, d.Param)
		} else {
			db = appendVarintField(db, dimValue, uint64(d.Value))
		}
		shape = appendMessage(shape, shapeDim, db)
	}
	var tt []byte
	tt = appendVarintField(tt, tensorElemType, uint64(v.Type))
	tt = appendMessage(tt, tensorShape, shape)
	var typ []byte
	typ = appendMessage(typ, typeTensorType, tt)
	var b []byte
	b = appendStringField(b, valueName, v.Name)
	b = appendMessage(b, valueType, typ)
	return appendStringField(b, valueDocString, v.Doc)
}
