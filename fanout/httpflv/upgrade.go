package httpflv

import (
	"encoding/base64"
	"net/http"
	"strings"

	"github.com/bbllive/bbllive/fanout/websocket"
)

// isUpgrade reports whether r asks to switch to WebSocket.
func isUpgrade(r *http.Request) bool {
	return headerHasToken(r.Header, "Connection", "upgrade") && strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

// checkUpgrade validates an opening handshake (RFC 6455 section 4.2.1) and
// returns the Sec-WebSocket-Accept value, or the status and reason to refuse
// it with.
func checkUpgrade(r *http.Request) (accept string, status int, why string) {
	if r.Method != http.MethodGet || !r.ProtoAtLeast(1, 1) {
		return "", http.StatusBadRequest, "websocket handshake needs GET over HTTP/1.1"
	}
	if r.Header.Get("Sec-WebSocket-Version") != "13" {
		return "", http.StatusUpgradeRequired, "unsupported Sec-WebSocket-Version (want 13)"
	}
	key := strings.TrimSpace(r.Header.Get("Sec-WebSocket-Key"))
	if raw, err := base64.StdEncoding.DecodeString(key); err != nil || len(raw) != 16 {
		return "", http.StatusBadRequest, "bad Sec-WebSocket-Key"
	}
	return websocket.AcceptKey(key), 0, ""
}

// headerHasToken reports whether a comma-separated header has token.
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// wsResponseHead switches the connection to WebSocket.
func wsResponseHead(accept string) []byte {
	return []byte("HTTP/1.1 101 Switching Protocols\r\n" +
		"Upgrade: websocket\r\n" +
		"Connection: Upgrade\r\n" +
		"Sec-WebSocket-Accept: " + accept + "\r\n\r\n")
}
