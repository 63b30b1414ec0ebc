package pthfile

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// The pickle machine: the opcodes of protocols 0 to 5 that a state_dict can contain, a
// stack, a memo and the globals of allowedGlobals. Values on the stack are int64, bigInt,
// float64, bool, nil, string, []byte, tuple, *list, *dict, global, *storageRef and
// *tensorRec.

type (
	tuple  []any
	list   struct{ items []any }
	bigInt []byte // little-endian two's complement, more than 8 bytes
	global struct{ module, name string }
	mark   struct{}
)

// dict is a dict or OrderedDict: keys in insertion order.
type dict struct {
	keys, values []any
	index        map[any]int
}

func (d *dict) set(k, v any) error {
	switch k.(type) {
	case string, int64, bool, nil, float64:
	default:
		return fmt.Errorf("a dict key of type %s", typeName(k))
	}
	if d.index == nil {
		d.index = map[any]int{}
	}
	if i, ok := d.index[k]; ok {
		d.values[i] = v
		return nil
	}
	d.index[k] = len(d.keys)
	d.keys, d.values = append(d.keys, k), append(d.values, v)
	return nil
}

func (d *dict) get(k any) (any, bool) {
	i, ok := d.index[k]
	if !ok {
		return nil, false
	}
	return d.values[i], true
}

// allowedGlobals are the only globals a file may name: what a state_dict of tensors is
// made of (torch.load's weights_only mode allows the same kind of set).
var allowedGlobals = map[string]bool{
	"collections.OrderedDict":                    true,
	"torch._utils._rebuild_tensor":               true,
	"torch._utils._rebuild_tensor_v2":            true,
	"torch._utils._rebuild_parameter":            true,
	"torch._utils._rebuild_parameter_with_state": true,
}

func allowedGlobal(module, name string) bool {
	if allowedGlobals[module+"."+name] {
		return true
	}
	_, ok := storageClasses[name]
	return module == "torch" && ok
}

type machine struct {
	b    []byte
	pos  int
	base int // b's offset in the file, for messages
	what string

	stack      []any
	marks      []int
	memo       map[int64]any
	persistent func(id []any) (any, error)
}

func newMachine(b []byte, what string) *machine {
	return &machine{b: b, what: what, memo: map[int64]any{}}
}

// run runs the pickle to its STOP and returns the object it built.
func (m *machine) run() (any, error) {
	for {
		if m.pos >= len(m.b) {
			return nil, fmt.Errorf("%s: the file ends at byte %d before the pickle's end (truncated?)", m.what, m.base+m.pos)
		}
		at := m.pos
		op := m.b[m.pos]
		m.pos++
		done, err := m.step(op)
		if err != nil {
			return nil, fmt.Errorf("%s at byte %d (opcode %s): %w", m.what, m.base+at, opName(op), err)
		}
		if done {
			if len(m.stack) != 1 || len(m.marks) != 0 {
				return nil, fmt.Errorf("%s at byte %d: the pickle stops with %d values and %d marks on its stack, want one value", m.what, m.base+at, len(m.stack), len(m.marks))
			}
			return m.stack[0], nil
		}
	}
}

// read returns the next n bytes, which must be in the file.
func (m *machine) read(n uint64) ([]byte, error) {
	if n > uint64(len(m.b)-m.pos) {
		return nil, fmt.Errorf("wants %d bytes, the file has %d left (truncated?)", n, len(m.b)-m.pos)
	}
	out := m.b[m.pos : m.pos+int(n)]
	m.pos += int(n)
	return out, nil
}

func (m *machine) uint(n uint64) (uint64, error) {
	b, err := m.read(n)
	if err != nil {
		return 0, err
	}
	var v uint64
	for i := len(b) - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v, nil
}

// line returns the text up to the next newline, without it.
func (m *machine) line() (string, error) {
	i := strings.IndexByte(string(m.b[m.pos:min(len(m.b), m.pos+4096)]), '\n')
	if i < 0 {
		return "", fmt.Errorf("no end of line within 4096 bytes")
	}
	s := string(m.b[m.pos : m.pos+i])
	m.pos += i + 1
	return s, nil
}

func (m *machine) push(v any) { m.stack = append(m.stack, v) }

func (m *machine) pop() (any, error) {
	if len(m.stack) == 0 || m.atMark() {
		return nil, fmt.Errorf("pops an empty stack")
	}
	v := m.stack[len(m.stack)-1]
	m.stack = m.stack[:len(m.stack)-1]
	return v, nil
}

func (m *machine) top() (any, error) {
	if len(m.stack) == 0 || m.atMark() {
		return nil, fmt.Errorf("reads an empty stack")
	}
	return m.stack[len(m.stack)-1], nil
}

// atMark reports whether the top of the stack is the newest mark.
func (m *machine) atMark() bool {
	return len(m.marks) > 0 && m.marks[len(m.marks)-1] == len(m.stack)
}

// popMark returns the values pushed since the newest mark and removes them and the mark.
func (m *machine) popMark() ([]any, error) {
	if len(m.marks) == 0 {
		return nil, fmt.Errorf("no mark on the stack")
	}
	k := m.marks[len(m.marks)-1]
	m.marks = m.marks[:len(m.marks)-1]
	items := append([]any(nil), m.stack[k:]...)
	m.stack = m.stack[:k]
	return items, nil
}

func (m *machine) str(n uint64) error {
	b, err := m.read(n)
	if err != nil {
		return err
	}
	m.push(string(b))
	return nil
}

func (m *machine) long(n uint64) error {
	b, err := m.read(n)
	if err != nil {
		return err
	}
	if len(b) > 8 {
		m.push(bigInt(append([]byte(nil), b...)))
		return nil
	}
	var v int64
	for i := len(b) - 1; i >= 0; i-- {
		v = v<<8 | int64(b[i])
	}
	if len(b) > 0 && len(b) < 8 && b[len(b)-1]&0x80 != 0 {
		v -= 1 << (8 * len(b)) // negative: sign-extend
	}
	m.push(v)
	return nil
}

func (m *machine) memoPut(i int64) error {
	v, err := m.top()
	if err != nil {
		return err
	}
	m.memo[i] = v
	return nil
}

func (m *machine) memoGet(i int64) error {
	v, ok := m.memo[i]
	if !ok {
		return fmt.Errorf("memo entry %d was never stored", i)
	}
	m.push(v)
	return nil
}

// step runs one opcode; it reports true at STOP.
func (m *machine) step(op byte) (bool, error) {
	switch op {
	case '.': // STOP
		return true, nil
	case 0x80: // PROTO
		v, err := m.uint(1)
		if err != nil {
			return false, err
		}
		if v > 5 {
			return false, fmt.Errorf("pickle protocol %d", v)
		}
	case 0x95: // FRAME: a length hint; frames are transparent to a reader of the whole pickle
		if _, err := m.uint(8); err != nil {
			return false, err
		}
	case '(': // MARK
		m.marks = append(m.marks, len(m.stack))
	case '0': // POP
		if len(m.stack) > 0 && m.atMark() {
			m.marks = m.marks[:len(m.marks)-1]
			return false, nil
		}
		_, err := m.pop()
		return false, err
	case '1': // POP_MARK
		_, err := m.popMark()
		return false, err
	case '2': // DUP
		v, err := m.top()
		if err != nil {
			return false, err
		}
		m.push(v)
	case 'N':
		m.push(nil)
	case 0x88:
		m.push(true)
	case 0x89:
		m.push(false)
	case 'J': // BININT
		v, err := m.uint(4)
		if err != nil {
			return false, err
		}
		m.push(int64(int32(uint32(v))))
	case 'K': // BININT1
		v, err := m.uint(1)
		if err != nil {
			return false, err
		}
		m.push(int64(v))
	case 'M': // BININT2
		v, err := m.uint(2)
		if err != nil {
			return false, err
		}
		m.push(int64(v))
	case 0x8a: // LONG1
		n, err := m.uint(1)
		if err != nil {
			return false, err
		}
		return false, m.long(n)
	case 0x8b: // LONG4
		n, err := m.uint(4)
		if err != nil {
			return false, err
		}
		return false, m.long(n)
	case 'I', 'L': // INT, LONG (text)
		s, err := m.line()
		if err != nil {
			return false, err
		}
		switch s {
		case "00":
			m.push(false)
			return false, nil
		case "01":
			m.push(true)
			return false, nil
		}
		v, err := strconv.ParseInt(strings.TrimSuffix(s, "L"), 10, 64)
		if err != nil {
			return false, fmt.Errorf("integer %q: %w", s, err)
		}
		m.push(v)
	case 'G': // BINFLOAT (big-endian)
		b, err := m.read(8)
		if err != nil {
			return false, err
		}
		m.push(math.Float64frombits(binary.BigEndian.Uint64(b)))
	case 'F': // FLOAT (text)
		s, err := m.line()
		if err != nil {
			return false, err
		}
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return false, fmt.Errorf("float %q: %w", s, err)
		}
		m.push(v)
	case 'X', 'T': // BINUNICODE, BINSTRING
		n, err := m.uint(4)
		if err != nil {
			return false, err
		}
		return false, m.str(n)
	case 0x8c, 'U': // SHORT_BINUNICODE, SHORT_BINSTRING
		n, err := m.uint(1)
		if err != nil {
			return false, err
		}
		return false, m.str(n)
	case 0x8d: // BINUNICODE8
		n, err := m.uint(8)
		if err != nil {
			return false, err
		}
		return false, m.str(n)
	case 'V': // UNICODE (raw-unicode-escape text): plain text only
		s, err := m.line()
		if err != nil {
			return false, err
		}
		if strings.ContainsRune(s, '\\') {
			return false, fmt.Errorf("escaped text %q", s)
		}
		m.push(s)
	case 'C', 'B', 0x8e: // SHORT_BINBYTES, BINBYTES, BINBYTES8
		w := map[byte]uint64{'C': 1, 'B': 4, 0x8e: 8}[op]
		n, err := m.uint(w)
		if err != nil {
			return false, err
		}
		b, err := m.read(n)
		if err != nil {
			return false, err
		}
		m.push(append([]byte(nil), b...))
	case ')': // EMPTY_TUPLE
		m.push(tuple{})
	case 't': // TUPLE
		items, err := m.popMark()
		if err != nil {
			return false, err
		}
		m.push(tuple(items))
	case 0x85, 0x86, 0x87: // TUPLE1, TUPLE2, TUPLE3
		n := int(op - 0x84)
		t := make(tuple, n)
		for i := n - 1; i >= 0; i-- {
			v, err := m.pop()
			if err != nil {
				return false, err
			}
			t[i] = v
		}
		m.push(t)
	case ']': // EMPTY_LIST
		m.push(&list{})
	case 'l': // LIST
		items, err := m.popMark()
		if err != nil {
			return false, err
		}
		m.push(&list{items: items})
	case 'a': // APPEND
		v, err := m.pop()
		if err != nil {
			return false, err
		}
		return false, m.appendTo([]any{v})
	case 'e': // APPENDS
		items, err := m.popMark()
		if err != nil {
			return false, err
		}
		return false, m.appendTo(items)
	case '}': // EMPTY_DICT
		m.push(&dict{})
	case 'd': // DICT
		items, err := m.popMark()
		if err != nil {
			return false, err
		}
		d := &dict{}
		m.push(d)
		return false, setItems(d, items)
	case 's': // SETITEM
		v, err := m.pop()
		if err != nil {
			return false, err
		}
		k, err := m.pop()
		if err != nil {
			return false, err
		}
		return false, m.setItems([]any{k, v})
	case 'u': // SETITEMS
		items, err := m.popMark()
		if err != nil {
			return false, err
		}
		return false, m.setItems(items)
	case 'q', 'r': // BINPUT, LONG_BINPUT
		n, err := m.uint(map[byte]uint64{'q': 1, 'r': 4}[op])
		if err != nil {
			return false, err
		}
		return false, m.memoPut(int64(n))
	case 'p', 'g': // PUT, GET (text)
		s, err := m.line()
		if err != nil {
			return false, err
		}
		i, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return false, fmt.Errorf("memo index %q: %w", s, err)
		}
		if op == 'p' {
			return false, m.memoPut(i)
		}
		return false, m.memoGet(i)
	case 0x94: // MEMOIZE
		return false, m.memoPut(int64(len(m.memo)))
	case 'h', 'j': // BINGET, LONG_BINGET
		n, err := m.uint(map[byte]uint64{'h': 1, 'j': 4}[op])
		if err != nil {
			return false, err
		}
		return false, m.memoGet(int64(n))
	case 'c': // GLOBAL
		mod, err := m.line()
		if err != nil {
			return false, err
		}
		name, err := m.line()
		if err != nil {
			return false, err
		}
		return false, m.global(mod, name)
	case 0x93: // STACK_GLOBAL
		name, err := m.pop()
		if err != nil {
			return false, err
		}
		mod, err := m.pop()
		if err != nil {
			return false, err
		}
		ms, ok1 := mod.(string)
		ns, ok2 := name.(string)
		if !ok1 || !ok2 {
			return false, fmt.Errorf("a global named by a %s and a %s", typeName(mod), typeName(name))
		}
		return false, m.global(ms, ns)
	case 'R': // REDUCE
		args, err := m.pop()
		if err != nil {
			return false, err
		}
		fn, err := m.pop()
		if err != nil {
			return false, err
		}
		t, ok := args.(tuple)
		if !ok {
			return false, fmt.Errorf("call arguments are a %s, not a tuple", typeName(args))
		}
		g, ok := fn.(global)
		if !ok {
			return false, fmt.Errorf("calls a %s", typeName(fn))
		}
		v, err := call(g, t)
		if err != nil {
			return false, err
		}
		m.push(v)
	case 'b': // BUILD: the state of an OrderedDict (its _metadata) or of a tensor is not needed
		if _, err := m.pop(); err != nil {
			return false, err
		}
		v, err := m.top()
		if err != nil {
			return false, err
		}
		switch v.(type) {
		case *dict, *tensorRec:
		default:
			return false, fmt.Errorf("sets the state of a %s", typeName(v))
		}
	case 'Q': // BINPERSID
		id, err := m.pop()
		if err != nil {
			return false, err
		}
		return false, m.persistentLoad(id)
	default:
		return false, fmt.Errorf("not an opcode a state_dict uses")
	}
	return false, nil
}

func (m *machine) global(mod, name string) error {
	if !allowedGlobal(mod, name) {
		return fmt.Errorf("names %s.%s, which a state_dict of tensors does not contain (only tensors are read, never code)", mod, name)
	}
	m.push(global{mod, name})
	return nil
}

func (m *machine) appendTo(items []any) error {
	v, err := m.top()
	if err != nil {
		return err
	}
	l, ok := v.(*list)
	if !ok {
		return fmt.Errorf("appends to a %s", typeName(v))
	}
	l.items = append(l.items, items...)
	return nil
}

func (m *machine) setItems(items []any) error {
	v, err := m.top()
	if err != nil {
		return err
	}
	d, ok := v.(*dict)
	if !ok {
		return fmt.Errorf("sets items of a %s", typeName(v))
	}
	return setItems(d, items)
}

func setItems(d *dict, items []any) error {
	if len(items)%2 != 0 {
		return fmt.Errorf("%d values for key-value pairs", len(items))
	}
	for i := 0; i < len(items); i += 2 {
		if err := d.set(items[i], items[i+1]); err != nil {
			return err
		}
	}
	return nil
}

func (m *machine) persistentLoad(id any) error {
	t, ok := id.(tuple)
	if !ok || len(t) == 0 {
		return fmt.Errorf("a persistent id that is a %s, not a tuple", typeName(id))
	}
	if m.persistent == nil {
		return fmt.Errorf("a persistent id where none belongs")
	}
	v, err := m.persistent(t)
	if err != nil {
		return err
	}
	m.push(v)
	return nil
}

// call runs an allowed global on its arguments.
func call(g global, args tuple) (any, error) {
	switch g.module + "." + g.name {
	case "collections.OrderedDict":
		if len(args) != 0 {
			return nil, fmt.Errorf("OrderedDict called with %d arguments", len(args))
		}
		return &dict{}, nil
	case "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor":
		// (storage, storage_offset, size, stride[, requires_grad, backward_hooks[, metadata]])
		if len(args) < 4 || len(args) > 7 {
			return nil, fmt.Errorf("%s called with %d arguments", g.name, len(args))
		}
		st, ok := args[0].(*storageRef)
		if !ok {
			return nil, fmt.Errorf("%s of a %s, not a storage", g.name, typeName(args[0]))
		}
		off, ok := args[1].(int64)
		if !ok {
			return nil, fmt.Errorf("%s: storage offset is a %s", g.name, typeName(args[1]))
		}
		size, err := ints(args[2])
		if err != nil {
			return nil, fmt.Errorf("%s: size: %w", g.name, err)
		}
		stride, err := ints(args[3])
		if err != nil {
			return nil, fmt.Errorf("%s: stride: %w", g.name, err)
		}
		return &tensorRec{storage: st, offset: off, size: size, stride: stride}, nil
	case "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state":
		if len(args) < 3 || len(args) > 4 {
			return nil, fmt.Errorf("%s called with %d arguments", g.name, len(args))
		}
		t, ok := args[0].(*tensorRec)
		if !ok {
			return nil, fmt.Errorf("%s of a %s, not a tensor", g.name, typeName(args[0]))
		}
		return t, nil
	}
	return nil, fmt.Errorf("%s.%s is not callable", g.module, g.name)
}

// ints reads a tuple of integers (a size or stride).
func ints(v any) ([]int64, error) {
	t, ok := v.(tuple)
	if !ok {
		return nil, fmt.Errorf("a %s, not a tuple", typeName(v))
	}
	out := make([]int64, len(t))
	for i, x := range t {
		n, ok := x.(int64)
		if !ok {
			return nil, fmt.Errorf("element %d is a %s, not an integer", i, typeName(x))
		}
		out[i] = n
	}
	return out, nil
}

// typeName names a pickle value's type as Python would.
func typeName(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case int64, bigInt:
		return "int"
	case float64:
		return "float"
	case bool:
		return "bool"
	case string:
		return "str"
	case []byte:
		return "bytes"
	case tuple:
		return "tuple"
	case *list:
		return "list"
	case *dict:
		return "dict"
	case global:
		return x.module + "." + x.name
	case *storageRef:
		return "storage"
	case *tensorRec:
		return "tensor"
	}
	return fmt.Sprintf("%T", v)
}

// opName names an opcode for messages: its character when printable, else its hex.
func opName(op byte) string {
	if op >= 0x21 && op < 0x7f {
		return fmt.Sprintf("%q", rune(op))
	}
	return fmt.Sprintf("0x%02x", op)
}
