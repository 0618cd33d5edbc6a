package rtmp

import "strings"

// Command is a decoded command message (type 20, or 17 in its AMF3 form):
// a name, a transaction id, a command object and further arguments.
type Command struct {
	Name   string
	TxID   float64
	Object any   // the command object: an Object, or nil
	Args   []any // what follows the command object
}

// ParseCommand decodes a command message body. AMF3 command messages (type
// 17) carry a leading format byte before AMF0-encoded values.
func ParseCommand(typ uint8, payload []byte) (*Command, error) {
	var (
		vals []any
		err  error
	)
	if typ == TypeCommandAMF3 {
		vals, err = DecodeAMF3Command(payload)
	} else {
		vals, err = DecodeAMF0All(payload)
	}
	if err != nil {
		return nil, err
	}
	if len(vals) == 0 {
		return nil, &ProtocolError{Reason: "bad_command", Detail: "empty command message"}
	}
	name, ok := vals[0].(string)
	if !ok {
		return nil, protoErr("bad_command", "command name is %T, not a string", vals[0])
	}
	c := &Command{Name: name}
	if len(vals) > 1 {
		c.TxID, _ = vals[1].(float64)
	}
	if len(vals) > 2 {
		c.Object = vals[2]
	}
	if len(vals) > 3 {
		c.Args = vals[3:]
	}
	return c, nil
}

// StringArg returns argument i as a string, or "" when absent or not a string.
func (c *Command) StringArg(i int) string {
	if i < len(c.Args) {
		s, _ := c.Args[i].(string)
		return s
	}
	return ""
}

// NumberArg returns argument i as a number and whether it was one.
func (c *Command) NumberArg(i int) (float64, bool) {
	if i < len(c.Args) {
		n, ok := c.Args[i].(float64)
		return n, ok
	}
	return 0, false
}

// BoolArg returns argument i as a boolean and whether it was one.
func (c *Command) BoolArg(i int) (bool, bool) {
	if i < len(c.Args) {
		b, ok := c.Args[i].(bool)
		return b, ok
	}
	return false, false
}

// ObjectField returns a string field of the command object.
func (c *Command) ObjectField(key string) string {
	if o, ok := c.Object.(Object); ok {
		return o.String(key)
	}
	return ""
}

// StatusObject builds the info object of an onStatus or _result reply.
func StatusObject(level, code, description string) Object {
	return Object{
		{Key: "level", Value: level},
		{Key: "code", Value: code},
		{Key: "description", Value: description},
	}
}

// Status codes the server sends; clients match on them exactly.
const (
	CodeConnectSuccess      = "NetConnection.Connect.Success"
	CodeConnectRejected     = "NetConnection.Connect.Rejected"
	CodePublishStart        = "NetStream.Publish.Start"
	CodePublishBadName      = "NetStream.Publish.BadName"
	CodeUnpublishSuccess    = "NetStream.Unpublish.Success"
	CodePlayReset           = "NetStream.Play.Reset"
	CodePlayStart           = "NetStream.Play.Start"
	CodePlayStop            = "NetStream.Play.Stop"
	CodePlayStreamNotFound  = "NetStream.Play.StreamNotFound"
	CodePlayFailed          = "NetStream.Play.Failed"
	CodePlayUnpublish       = "NetStream.Play.UnpublishNotify"
	CodePlayPublishNotify   = "NetStream.Play.PublishNotify"
	CodeDataStart           = "NetStream.Data.Start"
	CodeCloseSuccess        = "NetStream.Unpublish.Success"
	CodeDeleteStreamSuccess = "NetStream.DeleteStream.Suceess" // sic: what FMS sends
)

// AppendCommandMessage appends the AMF0 body of a command to dst.
func AppendCommandMessage(dst []byte, name string, txID float64, vals ...any) ([]byte, error) {
	dst, err := AppendAMF0(dst, name, txID)
	if err != nil {
		return dst, err
	}
	return AppendAMF0(dst, vals...)
}

// OnStatusPayload builds the body of an onStatus command message.
func OnStatusPayload(level, code, description string) []byte {
	b, _ := AppendCommandMessage(nil, "onStatus", 0, nil, StatusObject(level, code, description))
	return b
}

// MetadataPayload turns the body of a data message sent by a publisher into
// the body players receive: "@setDataFrame" is dropped so that
// `@setDataFrame onMetaData {…}` becomes `onMetaData {…}`. ok is false when
// the message is not metadata (onTextData, onCuePoint, …).
func MetadataPayload(p []byte) (meta []byte, ok bool) {
	v, n, err := DecodeAMF0(p)
	if err != nil {
		return nil, false
	}
	name, _ := v.(string)
	if name == "@setDataFrame" {
		rest := p[n:]
		v2, _, err := DecodeAMF0(rest)
		if err != nil {
			return nil, false
		}
		name2, _ := v2.(string)
		return rest, name2 == "onMetaData"
	}
	return p, name == "onMetaData"
}

// SplitStreamName separates "name?query" as publishers and players send it.
// Some clients also send an app-qualified name or trailing slashes; the name
// keeps only what identifies the stream.
func SplitStreamName(s string) (name, query string) {
	name, query, _ = strings.Cut(s, "?")
	return strings.Trim(name, "/"), query
}
