package rtmp

import "encoding/binary"

// User Control event ids (RTMP specification, section 7.1.7). The last four
// are not in the specification but Flash Media Server and Flash players
// send them.
const (
	UserStreamBegin       uint16 = 0
	UserStreamEOF         uint16 = 1
	UserStreamDry         uint16 = 2
	UserSetBufferLength   uint16 = 3
	UserStreamIsRecorded  uint16 = 4
	UserPingRequest       uint16 = 6
	UserPingResponse      uint16 = 7
	UserSWFVerifyRequest  uint16 = 26
	UserSWFVerifyResponse uint16 = 27
	UserBufferEmpty       uint16 = 31
	UserBufferReady       uint16 = 32
)

// Limit types of Set Peer Bandwidth (RTMP specification, section 5.4.5).
const (
	PeerBandwidthHard    uint8 = 0
	PeerBandwidthSoft    uint8 = 1
	PeerBandwidthDynamic uint8 = 2
)

// ParseUint32 reads the single 32-bit field of a Set Chunk Size, Abort,
// Acknowledgement or Window Acknowledgement Size payload. Bytes past the
// fourth are ignored, as other implementations do.
func ParseUint32(payload []byte) (uint32, error) {
	if len(payload) < 4 {
		return 0, protoErr("bad_control", "control payload of %d bytes, want 4", len(payload))
	}
	return binary.BigEndian.Uint32(payload), nil
}

// ParseSetPeerBandwidth reads a Set Peer Bandwidth payload: the window size
// and the limit type (PeerBandwidthHard, …).
func ParseSetPeerBandwidth(payload []byte) (size uint32, limitType uint8, err error) {
	if len(payload) < 5 {
		return 0, 0, protoErr("bad_control", "set peer bandwidth payload of %d bytes, want 5", len(payload))
	}
	return binary.BigEndian.Uint32(payload), payload[4], nil
}

// ParseUserControl reads a User Control payload without allocating. a is the
// first 32-bit argument (the stream id of the stream events, the timestamp
// of pings), b the second (the buffer length in ms of UserSetBufferLength).
// Events this package knows must carry their arguments; for other events a
// and b are whatever the payload holds, zero where it is too short, so that a
// new event never breaks a session.
func ParseUserControl(payload []byte) (event uint16, a, b uint32, err error) {
	if len(payload) < 2 {
		return 0, 0, 0, protoErr("bad_control", "user control payload of %d bytes", len(payload))
	}
	event = binary.BigEndian.Uint16(payload)
	args := payload[2:]
	if want := userControlArgs(event); len(args) < want {
		return event, 0, 0, protoErr("bad_control", "user control event %d with %d argument bytes, want %d", event, len(args), want)
	}
	if len(args) >= 4 {
		a = binary.BigEndian.Uint32(args)
	}
	if len(args) >= 8 {
		b = binary.BigEndian.Uint32(args[4:])
	}
	return event, a, b, nil
}

// userControlArgs is the argument length a known event requires.
func userControlArgs(event uint16) int {
	switch event {
	case UserStreamBegin, UserStreamEOF, UserStreamDry, UserStreamIsRecorded,
		UserPingRequest, UserPingResponse:
		return 4
	case UserSetBufferLength:
		return 8
	}
	return 0
}
