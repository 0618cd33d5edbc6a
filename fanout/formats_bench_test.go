package fanout_test

import (
	"fmt"
	"testing"

	"github.com/bbllive/bbllive/fanout"
	"github.com/bbllive/bbllive/fanout/flv"
)

// BenchmarkFormatsInMemory is BenchmarkFanoutInMemory with HTTP-FLV and
// WebSocket-FLV players (the formats of fanout/flv, as fanout/httpflv
// attaches them, response head first): one 4 KiB message ingested (serialized once into the
// format's log) and one sender pass over N players per op, through the
// stream's real outputs and the transports' plan/advance, written to
// memory. ns/op ÷ N is a message's cost per player; allocs/op must be 0
// whatever N, the "0 allocs per message per player". Run it with
// BenchmarkFanoutInMemory, RTMP's figures, for the reference.
func BenchmarkFormatsInMemory(b *testing.B) {
	formats := []struct {
		name string
		f    fanout.Format
		head []byte // what the protocol answers before the stream
	}{
		{"http-flv", flv.HTTP, []byte("HTTP/1.1 200 OK\r\nContent-Type: video/x-flv\r\nConnection: close\r\n\r\n")},
		{"ws-flv", flv.WebSocket, []byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")},
	}
	for _, tf := range formats {
		for _, n := range []int{1, 100, 1000} {
			b.Run(fmt.Sprintf("format=%s/players=%d", tf.name, n), func(b *testing.B) {
				ms := fanout.NewMemStream(b, "live/x")
				fanout.BenchFanout(b, ms, ms.AddPlayers(n, tf.f, tf.head))
			})
		}
	}
}
