package httpflv

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/bbllive/bbllive/fanout"
	"github.com/bbllive/bbllive/fanout/websocket"
)

// WebSocket keepalive defaults. A browser answers pings by itself; one
// that died behind a NAT answers nothing and, on a quiet stream, would
// hold its player until TCP gave up, which takes many minutes. Thirty
// seconds between pings is well inside the shortest NAT idle timeouts,
// and a peer silent for thirty more is gone.
const (
	DefaultPingInterval = 30 * time.Second
	DefaultPongTimeout  = 30 * time.Second
)

// keepalive pings a WebSocket player every interval and disconnects it
// when nothing at all (a pong, any frame) arrives within timeout of a
// ping. It runs on timers, not a goroutine of its own.
type keepalive struct {
	p                 *fanout.Player
	interval, timeout time.Duration
	heard             atomic.Int64 // UnixNano of the client's latest bytes

	mu      sync.Mutex
	timer   *time.Timer
	pingAt  time.Time // the unanswered ping's send time; zero between pings
	stopped bool
}

// newKeepalive starts pinging p.
func newKeepalive(p *fanout.Player, interval, timeout time.Duration) *keepalive {
	k := &keepalive{p: p, interval: interval, timeout: timeout}
	k.heard.Store(time.Now().UnixNano())
	k.mu.Lock()
	k.timer = time.AfterFunc(interval, k.fire)
	k.mu.Unlock()
	return k
}

// alive records that the client sent something.
func (k *keepalive) alive() { k.heard.Store(time.Now().UnixNano()) }

// fire sends a ping, or checks the answer to the last one.
func (k *keepalive) fire() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.stopped {
		return
	}
	now := time.Now()
	if !k.pingAt.IsZero() {
		if k.heard.Load() < k.pingAt.UnixNano() {
			k.stopped = true
			k.p.Disconnect("websocket peer answered no ping")
			return
		}
		next := k.pingAt.Add(k.interval)
		k.pingAt = time.Time{}
		k.timer.Reset(max(0, next.Sub(now)))
		return
	}
	k.pingAt = now
	k.p.SendControl(websocket.AppendFrame(nil, websocket.OpPing, nil), false)
	k.timer.Reset(k.timeout)
}

// stop ends the pinging.
func (k *keepalive) stop() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.stopped = true
	k.timer.Stop()
}
