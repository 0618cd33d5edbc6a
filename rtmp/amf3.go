package rtmp

import "strconv"

// AMF3 type markers (AMF3 specification, section 3.1).
const (
	amf3Undefined    = 0x00
	amf3Null         = 0x01
	amf3False        = 0x02
	amf3True         = 0x03
	amf3Integer      = 0x04
	amf3Double       = 0x05
	amf3String       = 0x06
	amf3XMLDoc       = 0x07
	amf3Date         = 0x08
	amf3Array        = 0x09
	amf3Object       = 0x0A
	amf3XML          = 0x0B
	amf3ByteArray    = 0x0C
	amf3VectorInt    = 0x0D
	amf3VectorUint   = 0x0E
	amf3VectorDouble = 0x0F
	amf3VectorObject = 0x10
	amf3Dictionary   = 0x11
)

// Bounds of the AMF3 decoder. Decoding alone stays proportional to the input
// as in AMF0 (every value and every table entry consumes input), but a
// reference costs one or two bytes and stands for a whole earlier string or
// object: a few kilobytes of references to references would expand into
// gigabytes once a caller walks or re-encodes the result. So each reference
// is charged the size of what it stands for, and the total charged per
// message is capped.
const (
	// maxAMF3TableEntries caps each of the string, object and traits
	// reference tables; real command bodies hold tens of entries.
	maxAMF3TableEntries = 1 << 16
	// maxAMF3RefExpansion caps, in bytes of strings plus one per value, how
	// much the references of one message may stand for.
	maxAMF3RefExpansion = 4 << 20
)

// amf3State is the reference tables of one AMF3 context. One context spans
// a whole message: every 0x11 switch in an AMF3 command shares it, as the
// reference decoders (BlazeDS, PyAMF) do.
type amf3State struct {
	strings  []string
	objects  []amf3Entry
	traits   []*amf3Traits
	cost     int // size of everything decoded so far, references expanded
	expanded int // the part of cost that came from references
}

// amf3Entry is one slot of the object table. A slot is reserved before the
// object's members are decoded (the wire indices require it) but a Go slice
// cannot be referenced before it is complete, so a reference to an
// unfinished slot — a cycle — is rejected.
type amf3Entry struct {
	v    any
	cost int
	done bool
}

type amf3Traits struct {
	dynamic bool
	names   []string // sealed member names, in wire order
	cost    int      // bytes of the names, charged on each reference
}

// DecodeAMF3 decodes one AMF3 value (used for marker 0x11 and type-15 data).
//
// Integers decode to float64, like every AMF0 number, so callers need not
// care which encoding a peer chose; strings and XML to string, dates to Date,
// byte arrays to []byte, arrays to StrictArray (or to ECMAArray, associative
// members first then the dense ones keyed "0", "1", …, when the array has an
// associative part), objects of any class to Object (sealed members first,
// then dynamic ones), vectors to StrictArray. Externalizable objects and
// dictionaries are errors. A reference to an earlier object yields the same
// Go value, shared.
func DecodeAMF3(b []byte) (v any, n int, err error) {
	d := decoder{b: b, amf3: &amf3State{}}
	v, err = d.amf3Value()
	if err != nil {
		return nil, 0, err
	}
	return v, d.pos, nil
}

// DecodeAMF3Command decodes the body of a type-17 (AMF3) command message: a
// leading format byte (0) then AMF0 values, where a value may switch to AMF3
// with marker 0x11. Type-15 data and type-16 shared-object bodies use the
// same layout. A body that starts with a string marker instead of the format
// byte is accepted too, since some encoders omit the byte.
func DecodeAMF3Command(b []byte) ([]any, error) {
	if len(b) == 0 {
		return nil, protoErr("amf", "empty AMF3 command body")
	}
	d := decoder{b: b, avmPlus: true}
	switch b[0] {
	case 0:
		d.pos = 1
	case amf0String, amf0AVMPlus:
	default:
		return nil, protoErr("amf", "AMF3 command format byte is 0x%02x, not 0", b[0])
	}
	return d.amf0All()
}

// amf3Switch decodes the AMF3 value that follows an AMF0 0x11 marker.
func (d *decoder) amf3Switch() (any, error) {
	if d.amf3 == nil {
		d.amf3 = &amf3State{}
	}
	return d.amf3Value()
}

// u29 reads the variable-length 29-bit unsigned integer of AMF3: up to three
// bytes of seven bits each, then a full eighth byte.
func (d *decoder) u29(what string) (uint32, error) {
	var v uint32
	for i := 0; i < 3; i++ {
		c, err := d.readByte(what)
		if err != nil {
			return 0, err
		}
		v = v<<7 | uint32(c&0x7F)
		if c&0x80 == 0 {
			return v, nil
		}
	}
	c, err := d.readByte(what)
	if err != nil {
		return 0, err
	}
	return v<<8 | uint32(c), nil
}

// charge adds n to the size of what has been decoded; ref says n stands for
// an earlier value reached through a reference, which is what is capped.
func (d *decoder) charge(n int, ref bool) error {
	s := d.amf3
	s.cost += n
	if !ref {
		return nil
	}
	s.expanded += n
	if s.expanded > maxAMF3RefExpansion {
		return protoErr("amf", "AMF3 references at offset %d expand past %d bytes", d.pos, maxAMF3RefExpansion)
	}
	return nil
}

func (d *decoder) amf3Value() (any, error) {
	at := d.pos
	m, err := d.readByte("AMF3 marker")
	if err != nil {
		return nil, err
	}
	if err := d.charge(1, false); err != nil {
		return nil, err
	}
	switch m {
	case amf3Undefined:
		return Undefined{}, nil
	case amf3Null:
		return nil, nil
	case amf3False:
		return false, nil
	case amf3True:
		return true, nil
	case amf3Integer:
		u, err := d.u29("AMF3 integer")
		if u&(1<<28) != 0 {
			return float64(int32(u) - 1<<29), err
		}
		return float64(u), err
	case amf3Double:
		return d.f64("AMF3 double")
	case amf3String:
		return d.amf3String("AMF3 string")
	case amf3XMLDoc, amf3XML:
		return d.amf3Complex(m, d.amf3XMLBody)
	case amf3Date:
		return d.amf3Complex(m, d.amf3DateBody)
	case amf3ByteArray:
		return d.amf3Complex(m, d.amf3ByteArrayBody)
	case amf3Array:
		return d.amf3Complex(m, d.amf3ArrayBody)
	case amf3Object:
		return d.amf3Complex(m, d.amf3ObjectBody)
	case amf3VectorInt, amf3VectorUint, amf3VectorDouble, amf3VectorObject:
		return d.amf3Complex(m, d.amf3VectorBody)
	case amf3Dictionary:
		return nil, protoErr("amf", "AMF3 dictionary at offset %d is not supported", at)
	default:
		return nil, protoErr("amf", "unknown AMF3 marker 0x%02x at offset %d", m, at)
	}
}

// amf3String reads UTF-8-vr: a reference to the string table, or an inline
// string that joins the table unless empty.
func (d *decoder) amf3String(what string) (string, error) {
	h, err := d.u29(what)
	if err != nil {
		return "", err
	}
	s := d.amf3
	if h&1 == 0 {
		i := int(h >> 1)
		if i >= len(s.strings) {
			return "", protoErr("amf", "AMF3 string reference %d at offset %d beyond the %d strings seen", i, d.pos, len(s.strings))
		}
		str := s.strings[i]
		return str, d.charge(len(str), true)
	}
	p, err := d.take(uint64(h>>1), what)
	if err != nil {
		return "", err
	}
	if len(p) == 0 {
		return "", nil
	}
	if len(s.strings) >= maxAMF3TableEntries {
		return "", protoErr("amf", "more than %d AMF3 strings", maxAMF3TableEntries)
	}
	str := string(p)
	s.strings = append(s.strings, str)
	return str, d.charge(len(str), false)
}

// amf3Complex handles what every object-table type shares: the header whose
// low bit says reference or inline, the table slot, and the nesting depth.
// body gets the header's remaining 28 bits.
func (d *decoder) amf3Complex(m byte, body func(m byte, h uint32) (any, error)) (any, error) {
	h, err := d.u29("AMF3 header")
	if err != nil {
		return nil, err
	}
	s := d.amf3
	if h&1 == 0 {
		return d.amf3ObjectRef(int(h >> 1))
	}
	if len(s.objects) >= maxAMF3TableEntries {
		return nil, protoErr("amf", "more than %d AMF3 objects", maxAMF3TableEntries)
	}
	if err := d.enter(); err != nil {
		return nil, err
	}
	defer d.leave()
	slot := len(s.objects)
	s.objects = append(s.objects, amf3Entry{})
	before := s.cost
	v, err := body(m, h>>1)
	if err != nil {
		return nil, err
	}
	s.objects[slot] = amf3Entry{v: v, cost: s.cost - before, done: true}
	return v, nil
}

func (d *decoder) amf3ObjectRef(i int) (any, error) {
	s := d.amf3
	if i >= len(s.objects) {
		return nil, protoErr("amf", "AMF3 object reference %d at offset %d beyond the %d objects seen", i, d.pos, len(s.objects))
	}
	e := s.objects[i]
	if !e.done {
		return nil, protoErr("amf", "AMF3 object reference %d at offset %d is cyclic", i, d.pos)
	}
	return e.v, d.charge(e.cost, true)
}

func (d *decoder) amf3XMLBody(_ byte, n uint32) (any, error) {
	p, err := d.take(uint64(n), "AMF3 XML")
	if err != nil {
		return nil, err
	}
	return string(p), d.charge(len(p), false)
}

func (d *decoder) amf3DateBody(byte, uint32) (any, error) {
	ms, err := d.f64("AMF3 date")
	return Date{Millis: ms}, err
}

func (d *decoder) amf3ByteArrayBody(_ byte, n uint32) (any, error) {
	p, err := d.take(uint64(n), "AMF3 byte array")
	if err != nil {
		return nil, err
	}
	return append([]byte{}, p...), d.charge(len(p), false)
}

// amf3ArrayBody reads the associative part (name/value pairs up to an empty
// name) and then the dense part, whose count is checked against the input
// left before the loop (each element is at least a marker byte).
func (d *decoder) amf3ArrayBody(_ byte, dense uint32) (any, error) {
	if uint64(dense) > uint64(d.remaining()) {
		return nil, protoErr("amf", "AMF3 array of %d elements at offset %d exceeds the %d bytes left", dense, d.pos, d.remaining())
	}
	assoc, err := d.amf3Dynamic(nil)
	if err != nil {
		return nil, err
	}
	arr := StrictArray{}
	for i := uint32(0); i < dense; i++ {
		v, err := d.amf3Value()
		if err != nil {
			return nil, err
		}
		arr = append(arr, v)
	}
	if len(assoc) == 0 {
		return arr, nil
	}
	for i, v := range arr {
		assoc = append(assoc, Property{Key: strconv.Itoa(i), Value: v})
	}
	return ECMAArray(assoc), nil
}

// amf3Dynamic appends name/value pairs up to the empty name.
func (d *decoder) amf3Dynamic(ps []Property) ([]Property, error) {
	for {
		key, err := d.amf3String("AMF3 member name")
		if err != nil {
			return nil, err
		}
		if key == "" {
			return ps, nil
		}
		v, err := d.amf3Value()
		if err != nil {
			return nil, err
		}
		ps = append(ps, Property{Key: key, Value: v})
	}
}

// amf3ObjectBody reads the traits (inline or referenced), then the sealed
// member values in trait order, then the dynamic members. The class name is
// dropped: nothing in RTMP depends on it.
func (d *decoder) amf3ObjectBody(_ byte, h uint32) (any, error) {
	t, err := d.amf3Traits(h)
	if err != nil {
		return nil, err
	}
	obj := Object{}
	for _, name := range t.names {
		v, err := d.amf3Value()
		if err != nil {
			return nil, err
		}
		obj = append(obj, Property{Key: name, Value: v})
	}
	if !t.dynamic {
		return obj, nil
	}
	ps, err := d.amf3Dynamic(obj)
	if err != nil {
		return nil, err
	}
	return Object(ps), nil
}

// amf3Traits decodes the traits part of an object header h (already shifted
// past the inline-object bit): bit 0 inline traits, bit 1 externalizable,
// bit 2 dynamic, the rest the sealed member count.
func (d *decoder) amf3Traits(h uint32) (*amf3Traits, error) {
	s := d.amf3
	if h&1 == 0 {
		i := int(h >> 1)
		if i >= len(s.traits) {
			return nil, protoErr("amf", "AMF3 traits reference %d at offset %d beyond the %d traits seen", i, d.pos, len(s.traits))
		}
		t := s.traits[i]
		return t, d.charge(t.cost, true)
	}
	if h&2 != 0 {
		class, _ := d.amf3String("AMF3 class name")
		return nil, protoErr("amf", "externalizable AMF3 object of class %q at offset %d is not supported", class, d.pos)
	}
	count := h >> 3
	if uint64(count) > uint64(d.remaining()) {
		return nil, protoErr("amf", "AMF3 traits with %d members at offset %d exceed the %d bytes left", count, d.pos, d.remaining())
	}
	if _, err := d.amf3String("AMF3 class name"); err != nil {
		return nil, err
	}
	t := &amf3Traits{dynamic: h&4 != 0}
	for i := uint32(0); i < count; i++ {
		name, err := d.amf3String("AMF3 sealed member name")
		if err != nil {
			return nil, err
		}
		t.names = append(t.names, name)
		t.cost += len(name)
	}
	if len(s.traits) >= maxAMF3TableEntries {
		return nil, protoErr("amf", "more than %d AMF3 traits", maxAMF3TableEntries)
	}
	s.traits = append(s.traits, t)
	return t, nil
}

// amf3VectorBody reads the Vector.<int|uint|Number|Object> types of Flash
// Player 10 into a StrictArray of float64 (or of values, for objects). The
// fixed-length flag and the object type name carry nothing RTMP needs.
func (d *decoder) amf3VectorBody(m byte, n uint32) (any, error) {
	if _, err := d.readByte("AMF3 vector fixed flag"); err != nil {
		return nil, err
	}
	if uint64(n)*amf3VectorElemSize(m) > uint64(d.remaining()) {
		return nil, protoErr("amf", "AMF3 vector of %d elements at offset %d exceeds the %d bytes left", n, d.pos, d.remaining())
	}
	if m == amf3VectorObject {
		if _, err := d.amf3String("AMF3 vector type name"); err != nil {
			return nil, err
		}
	}
	arr := StrictArray{}
	for i := uint32(0); i < n; i++ {
		v, err := d.amf3VectorElem(m)
		if err != nil {
			return nil, err
		}
		arr = append(arr, v)
	}
	return arr, nil
}

// amf3VectorElemSize is the least input one element takes.
func amf3VectorElemSize(m byte) uint64 {
	switch m {
	case amf3VectorInt, amf3VectorUint:
		return 4
	case amf3VectorDouble:
		return 8
	}
	return 1
}

func (d *decoder) amf3VectorElem(m byte) (any, error) {
	if m != amf3VectorObject {
		if err := d.charge(1, false); err != nil {
			return nil, err
		}
	}
	switch m {
	case amf3VectorInt:
		u, err := d.u32("AMF3 vector int")
		return float64(int32(u)), err
	case amf3VectorUint:
		u, err := d.u32("AMF3 vector uint")
		return float64(u), err
	case amf3VectorDouble:
		f, err := d.f64("AMF3 vector double")
		return f, err
	}
	return d.amf3Value()
}
