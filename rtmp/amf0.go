package rtmp

import (
	"encoding/binary"
	"fmt"
	"math"
	"reflect"
	"sort"
)

// AMF0 type markers (AMF0 specification, section 2.1).
const (
	amf0Number      = 0x00
	amf0Boolean     = 0x01
	amf0String      = 0x02
	amf0Object      = 0x03
	amf0MovieClip   = 0x04
	amf0Null        = 0x05
	amf0Undefined   = 0x06
	amf0Reference   = 0x07
	amf0ECMAArray   = 0x08
	amf0ObjectEnd   = 0x09
	amf0StrictArray = 0x0A
	amf0Date        = 0x0B
	amf0LongString  = 0x0C
	amf0Unsupported = 0x0D
	amf0RecordSet   = 0x0E
	amf0XMLDocument = 0x0F
	amf0TypedObject = 0x10
	amf0AVMPlus     = 0x11
)

// MaxAMFDepth is how deeply objects and arrays may nest, in decoding and in
// encoding. Real commands nest two or three levels; the bound keeps a hostile
// body from exhausting the goroutine stack, and keeps a self-containing []any
// from recursing forever in AppendAMF0.
const MaxAMFDepth = 64

// Memory bound of the AMF0 decoder: it does not count elements. Every decoded
// value consumes at least one byte of input and nothing is preallocated from
// a count read off the wire, so what a body can make the decoder hold is
// proportional to the body's length, which the chunk reader already bounds
// (Limits.MaxMessageSize). AMF3 adds references, which are bounded separately
// (see amf3.go).

// Property is one key/value pair of an AMF object or ECMA array, kept in wire order.
type Property struct {
	Key   string
	Value any
}

// Object is an AMF0 anonymous object (marker 0x03); also what AMF0 typed
// objects and AMF3 objects decode to. Wire order is kept because some peers
// (and captures compared byte for byte) care about it.
type Object []Property

// Get returns the value of the first property named key.
func (o Object) Get(key string) (any, bool) { return propsGet(o, key) }

// String returns the string property key, or "" when absent or not a string.
func (o Object) String(key string) string { return propsString(o, key) }

// Number returns the number property key, or 0 when absent or not a number.
func (o Object) Number(key string) float64 { return propsNumber(o, key) }

// ECMAArray is an AMF0 ECMA array (marker 0x08), the associative array that
// onMetaData carries.
type ECMAArray []Property

// Get returns the value of the first property named key.
func (a ECMAArray) Get(key string) (any, bool) { return propsGet(a, key) }

// String returns the string property key, or "" when absent or not a string.
func (a ECMAArray) String(key string) string { return propsString(a, key) }

// Number returns the number property key, or 0 when absent or not a number.
func (a ECMAArray) Number(key string) float64 { return propsNumber(a, key) }

// StrictArray is an AMF0 strict array (marker 0x0A).
type StrictArray []any

// Undefined is the AMF0 undefined value (marker 0x06); nil stands for null (0x05).
type Undefined struct{}

// Date is an AMF0 date (marker 0x0B): milliseconds since the Unix epoch in
// UTC, and a time-zone field that the specification says to ignore but that
// is kept so a date re-encodes to the same bytes.
type Date struct {
	Millis float64
	TZ     int16
}

func propsGet(ps []Property, key string) (any, bool) {
	for _, p := range ps {
		if p.Key == key {
			return p.Value, true
		}
	}
	return nil, false
}

func propsString(ps []Property, key string) string {
	v, _ := propsGet(ps, key)
	s, _ := v.(string)
	return s
}

func propsNumber(ps []Property, key string) float64 {
	v, _ := propsGet(ps, key)
	f, _ := v.(float64)
	return f
}

// DecodeAMF0 decodes one value from b, returning it and the bytes consumed.
//
// Numbers decode to float64, booleans to bool, strings, long strings and XML
// documents to string, objects and typed objects to Object (the class name
// is dropped), null to nil, undefined and unsupported to Undefined, ECMA
// arrays to ECMAArray, strict arrays to StrictArray, dates to Date. Errors
// are *ProtocolError with Reason "amf", or "amf_depth" past MaxAMFDepth.
// The AMF0 reference (0x07) and the AMF3 switch (0x11, see
// DecodeAMF3Command) are errors.
func DecodeAMF0(b []byte) (v any, n int, err error) {
	d := decoder{b: b}
	v, err = d.amf0Value()
	if err != nil {
		return nil, 0, err
	}
	return v, d.pos, nil
}

// DecodeAMF0All decodes values until b is exhausted (a command message body).
// An empty b yields no values and no error.
func DecodeAMF0All(b []byte) ([]any, error) {
	d := decoder{b: b}
	return d.amf0All()
}

// decoder reads AMF0 and AMF3 from one message body. Decoded strings and
// byte arrays are copies: the chunk reader may reuse b.
type decoder struct {
	b     []byte
	pos   int
	depth int
	// avmPlus permits the AMF0 marker 0x11 that switches one value to AMF3;
	// it is only legal in the AMF3 message types (15, 16, 17).
	avmPlus bool
	amf3    *amf3State
}

func (d *decoder) amf0All() ([]any, error) {
	var vals []any
	for d.pos < len(d.b) {
		v, err := d.amf0Value()
		if err != nil {
			return nil, err
		}
		vals = append(vals, v)
	}
	return vals, nil
}

func (d *decoder) remaining() int { return len(d.b) - d.pos }

func (d *decoder) errTruncated(what string) error {
	return protoErr("amf", "truncated %s at offset %d", what, d.pos)
}

func (d *decoder) readByte(what string) (byte, error) {
	if d.pos >= len(d.b) {
		return 0, d.errTruncated(what)
	}
	c := d.b[d.pos]
	d.pos++
	return c, nil
}

// take returns the next n bytes without copying. n comes off the wire, so it
// is checked against what is left before anything is allocated for it.
func (d *decoder) take(n uint64, what string) ([]byte, error) {
	if n > uint64(d.remaining()) {
		return nil, protoErr("amf", "truncated %s at offset %d: need %d bytes, have %d", what, d.pos, n, d.remaining())
	}
	p := d.b[d.pos : d.pos+int(n)]
	d.pos += int(n)
	return p, nil
}

func (d *decoder) u16(what string) (uint16, error) {
	p, err := d.take(2, what)
	if err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint16(p), nil
}

func (d *decoder) u32(what string) (uint32, error) {
	p, err := d.take(4, what)
	if err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint32(p), nil
}

func (d *decoder) f64(what string) (float64, error) {
	p, err := d.take(8, what)
	if err != nil {
		return 0, err
	}
	return math.Float64frombits(binary.BigEndian.Uint64(p)), nil
}

// str16 and str32 read a length-prefixed string; what names it in errors
// (built only on error: decoding allocates nothing but the values).
func (d *decoder) str16(what string) (string, error) {
	n, err := d.u16(what)
	if err != nil {
		return "", err
	}
	p, err := d.take(uint64(n), what)
	return string(p), err
}

func (d *decoder) str32(what string) (string, error) {
	n, err := d.u32(what)
	if err != nil {
		return "", err
	}
	p, err := d.take(uint64(n), what)
	return string(p), err
}

// enter and leave bracket every container so that nesting is bounded.
func (d *decoder) enter() error {
	d.depth++
	if d.depth > MaxAMFDepth {
		return protoErr("amf_depth", "nesting deeper than %d at offset %d", MaxAMFDepth, d.pos)
	}
	return nil
}

func (d *decoder) leave() { d.depth-- }

func (d *decoder) amf0Value() (any, error) {
	at := d.pos
	m, err := d.readByte("AMF0 marker")
	if err != nil {
		return nil, err
	}
	switch m {
	case amf0Number:
		return d.f64("AMF0 number")
	case amf0Boolean:
		c, err := d.readByte("AMF0 boolean")
		return c != 0, err
	case amf0String:
		return d.str16("AMF0 string")
	case amf0LongString:
		return d.str32("AMF0 long string")
	case amf0XMLDocument:
		return d.str32("AMF0 XML document")
	case amf0Null:
		return nil, nil
	case amf0Undefined, amf0Unsupported:
		// "unsupported" carries no data and means "no value"; folding it into
		// Undefined keeps decode→encode→decode stable.
		return Undefined{}, nil
	case amf0Object:
		return d.amf0Object()
	case amf0TypedObject:
		if _, err := d.str16("AMF0 typed object class name"); err != nil {
			return nil, err
		}
		return d.amf0Object()
	case amf0ECMAArray:
		return d.amf0ECMAArray()
	case amf0StrictArray:
		return d.amf0StrictArray()
	case amf0Date:
		return d.amf0Date()
	case amf0AVMPlus:
		if !d.avmPlus {
			return nil, protoErr("amf", "AMF3 switch marker 0x11 at offset %d in an AMF0 message", at)
		}
		return d.amf3Switch()
	case amf0ObjectEnd:
		return nil, protoErr("amf", "object end marker outside an object at offset %d", at)
	case amf0Reference:
		return nil, protoErr("amf", "AMF0 reference marker 0x07 at offset %d is not supported", at)
	case amf0MovieClip, amf0RecordSet:
		return nil, protoErr("amf", "reserved AMF0 marker 0x%02x at offset %d", m, at)
	default:
		return nil, protoErr("amf", "unknown AMF0 marker 0x%02x at offset %d", m, at)
	}
}

func (d *decoder) amf0Object() (Object, error) {
	ps, err := d.amf0Properties("AMF0 object")
	return Object(ps), err
}

// amf0ECMAArray ignores the count: encoders are known to write counts that do
// not match the entries, and the object-end terminator is what ends the array.
func (d *decoder) amf0ECMAArray() (ECMAArray, error) {
	if _, err := d.u32("AMF0 ECMA array count"); err != nil {
		return nil, err
	}
	ps, err := d.amf0Properties("AMF0 ECMA array")
	return ECMAArray(ps), err
}

// amf0Properties reads key/value pairs up to the empty key followed by the
// object-end marker. The result is non-nil even when empty, so that an empty
// object and a missing one stay distinguishable to callers.
func (d *decoder) amf0Properties(what string) ([]Property, error) {
	if err := d.enter(); err != nil {
		return nil, err
	}
	defer d.leave()
	ps := []Property{}
	for {
		key, err := d.str16("AMF0 property key")
		if err != nil {
			return nil, err
		}
		if key == "" {
			if d.pos < len(d.b) && d.b[d.pos] == amf0ObjectEnd {
				d.pos++
				return ps, nil
			}
			if d.pos >= len(d.b) {
				return nil, d.errTruncated(what + " end marker")
			}
		}
		v, err := d.amf0Value()
		if err != nil {
			return nil, err
		}
		ps = append(ps, Property{Key: key, Value: v})
	}
}

// amf0StrictArray trusts the count only as a loop bound: the slice grows by
// append, and each element consumes at least one byte, so a count larger
// than the input fails on truncation before it can cost memory.
func (d *decoder) amf0StrictArray() (StrictArray, error) {
	n, err := d.u32("AMF0 strict array count")
	if err != nil {
		return nil, err
	}
	if uint64(n) > uint64(d.remaining()) {
		return nil, protoErr("amf", "AMF0 strict array of %d elements at offset %d exceeds the %d bytes left", n, d.pos, d.remaining())
	}
	if err := d.enter(); err != nil {
		return nil, err
	}
	defer d.leave()
	arr := StrictArray{}
	for i := uint32(0); i < n; i++ {
		v, err := d.amf0Value()
		if err != nil {
			return nil, err
		}
		arr = append(arr, v)
	}
	return arr, nil
}

func (d *decoder) amf0Date() (Date, error) {
	ms, err := d.f64("AMF0 date")
	if err != nil {
		return Date{}, err
	}
	tz, err := d.u16("AMF0 date time zone")
	return Date{Millis: ms, TZ: int16(tz)}, err
}

// AppendAMF0 appends the AMF0 encoding of each value to dst.
//
// It encodes float64, float32 and every integer kind as numbers, bool,
// string (as a long string past 65535 bytes), nil as null, Undefined, Object,
// ECMAArray, StrictArray, Date, map[string]any (as an object, keys sorted so
// that output is deterministic) and []any (as a strict array). Any other type
// is an error naming it; on error dst is returned unchanged.
func AppendAMF0(dst []byte, vals ...any) ([]byte, error) {
	out := dst
	for _, v := range vals {
		var err error
		out, err = appendAMF0Value(out, v, 0)
		if err != nil {
			return dst, err
		}
	}
	return out, nil
}

func appendAMF0Value(dst []byte, v any, depth int) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(dst, amf0Null), nil
	case Undefined:
		return append(dst, amf0Undefined), nil
	case bool:
		b := byte(0)
		if v {
			b = 1
		}
		return append(dst, amf0Boolean, b), nil
	case string:
		return appendAMF0String(dst, v), nil
	case Date:
		dst = binary.BigEndian.AppendUint64(append(dst, amf0Date), math.Float64bits(v.Millis))
		return binary.BigEndian.AppendUint16(dst, uint16(v.TZ)), nil
	case Object:
		return appendAMF0Props(append(dst, amf0Object), v, depth)
	case ECMAArray:
		dst = binary.BigEndian.AppendUint32(append(dst, amf0ECMAArray), uint32(len(v)))
		return appendAMF0Props(dst, v, depth)
	case StrictArray:
		return appendAMF0Array(dst, v, depth)
	case []any:
		return appendAMF0Array(dst, v, depth)
	case map[string]any:
		return appendAMF0Map(dst, v, depth)
	}
	if f, ok := amf0NumberOf(v); ok {
		return appendAMF0Number(dst, f), nil
	}
	return dst, fmt.Errorf("rtmp: AMF0 cannot encode a value of type %T", v)
}

// amf0NumberOf converts every Go numeric kind, named types included, since
// AMF0 has a single number type.
func amf0NumberOf(v any) (float64, bool) {
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Float32, reflect.Float64:
		return rv.Float(), true
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return float64(rv.Int()), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return float64(rv.Uint()), true
	}
	return 0, false
}

func appendAMF0Number(dst []byte, f float64) []byte {
	return binary.BigEndian.AppendUint64(append(dst, amf0Number), math.Float64bits(f))
}

func appendAMF0String(dst []byte, s string) []byte {
	if len(s) > math.MaxUint16 {
		dst = binary.BigEndian.AppendUint32(append(dst, amf0LongString), uint32(len(s)))
		return append(dst, s...)
	}
	dst = binary.BigEndian.AppendUint16(append(dst, amf0String), uint16(len(s)))
	return append(dst, s...)
}

func appendAMF0Key(dst []byte, key string) ([]byte, error) {
	if len(key) > math.MaxUint16 {
		return dst, fmt.Errorf("rtmp: AMF0 property key of %d bytes exceeds 65535", len(key))
	}
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(key)))
	return append(dst, key...), nil
}

// checkEncodeDepth returns a plain error, not a ProtocolError: a value too
// deep to encode is the caller's bug (or a cycle), not a peer's.
func checkEncodeDepth(depth int) error {
	if depth >= MaxAMFDepth {
		return fmt.Errorf("rtmp: AMF0 encoding nests deeper than %d (a cycle?)", MaxAMFDepth)
	}
	return nil
}

func appendAMF0Props(dst []byte, ps []Property, depth int) ([]byte, error) {
	if err := checkEncodeDepth(depth); err != nil {
		return dst, err
	}
	var err error
	for _, p := range ps {
		if dst, err = appendAMF0Key(dst, p.Key); err != nil {
			return dst, err
		}
		if dst, err = appendAMF0Value(dst, p.Value, depth+1); err != nil {
			return dst, err
		}
	}
	return append(dst, 0, 0, amf0ObjectEnd), nil
}

func appendAMF0Array(dst []byte, vs []any, depth int) ([]byte, error) {
	if err := checkEncodeDepth(depth); err != nil {
		return dst, err
	}
	dst = binary.BigEndian.AppendUint32(append(dst, amf0StrictArray), uint32(len(vs)))
	var err error
	for _, v := range vs {
		if dst, err = appendAMF0Value(dst, v, depth+1); err != nil {
			return dst, err
		}
	}
	return dst, nil
}

func appendAMF0Map(dst []byte, m map[string]any, depth int) ([]byte, error) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	ps := make([]Property, len(keys))
	for i, k := range keys {
		ps[i] = Property{Key: k, Value: m[k]}
	}
	return appendAMF0Props(append(dst, amf0Object), ps, depth)
}
