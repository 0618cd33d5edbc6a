// Package websocket is the part of RFC 6455 a media server needs: the
// opening handshake's accept key, server-to-client frame headers (servers
// never mask), and a parser of client-to-server frames (always masked),
// with its control frames — ping, pong, close.
package websocket

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
)

// Opcodes (RFC 6455 section 5.2).
const (
	OpContinuation = 0x0
	OpText         = 0x1
	OpBinary       = 0x2
	OpClose        = 0x8
	OpPing         = 0x9
	OpPong         = 0xA
)

// guid is the key suffix of RFC 6455 section 1.3.
const guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// AcceptKey is the Sec-WebSocket-Accept value for a client's
// Sec-WebSocket-Key.
func AcceptKey(key string) string {
	h := sha1.Sum([]byte(key + guid))
	return base64.StdEncoding.EncodeToString(h[:])
}

// AppendFrameHeader appends the header of an unfragmented, unmasked frame
// with opcode op and an n-byte payload (server to client).
func AppendFrameHeader(dst []byte, op byte, n int) []byte {
	dst = append(dst, 0x80|op)
	switch {
	case n < 126:
		return append(dst, byte(n))
	case n <= 0xffff:
		return binary.BigEndian.AppendUint16(append(dst, 126), uint16(n))
	}
	return binary.BigEndian.AppendUint64(append(dst, 127), uint64(n))
}

// AppendFrame appends a whole unmasked frame.
func AppendFrame(dst []byte, op byte, payload []byte) []byte {
	return append(AppendFrameHeader(dst, op, len(payload)), payload...)
}

// AppendClose appends a close frame with a status code and reason.
func AppendClose(dst []byte, code uint16, reason string) []byte {
	dst = AppendFrameHeader(dst, OpClose, 2+len(reason))
	dst = binary.BigEndian.AppendUint16(dst, code)
	return append(dst, reason...)
}

// Close status codes used here (RFC 6455 section 7.4.1).
const (
	CloseNormal        = 1000
	CloseProtocolError = 1002
	CloseUnsupported   = 1003
	CloseMessageTooBig = 1009
)
