package access

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"time"
)

// The hook events: on_connect, on_publish and on_play decide (a non-2xx
// answer refuses); on_unpublish and on_stop only notify.
const (
	EventConnect   = "on_connect"
	EventPublish   = "on_publish"
	EventUnpublish = "on_unpublish"
	EventPlay      = "on_play"
	EventStop      = "on_stop"
)

// HookEvent is the JSON body of every hook POST.
type HookEvent struct {
	// Event is on_connect, on_publish, on_unpublish, on_play or on_stop.
	Event string `json:"event"`
	// Action is the client's: "publish" or "play".
	Action Action `json:"action"`
	// App, Name and Stream ("app/name") name the stream.
	App    string `json:"app"`
	Name   string `json:"name"`
	Stream string `json:"stream"`
	// Query is the raw query the client sent, tokens included: the hook
	// may check credentials of its own there.
	Query string `json:"query"`
	// ClientAddr is the client's "ip:port".
	ClientAddr string `json:"client_addr"`
	// Protocol is "rtmp", "http-flv", "ws-flv", "hls" or "fmp4".
	Protocol string `json:"protocol"`
	// ClientID is the connection's id, the one the control API kicks by.
	ClientID uint64 `json:"client_id"`
}

func newHookEvent(event string, r *Request) HookEvent {
	return HookEvent{Event: event, Action: r.Action, App: r.App, Name: r.Name, Stream: r.Stream(),
		Query: r.Query, ClientAddr: r.Remote, Protocol: r.Protocol, ClientID: r.ID}
}

// hookTarget is where one configuration sends its hooks.
type hookTarget struct {
	url      string
	timeout  time.Duration
	failOpen bool
	sem      chan struct{} // bounds the checks in flight
}

// hookResult is how one hook call went, the label of its counter.
type hookResult string

const (
	hookOK      hookResult = "ok"
	hookRefused hookResult = "refused"
	hookError   hookResult = "error"
)

// post sends ev and waits for the answer, within the target's timeout
// (waiting for a free slot included).
func (h *hookTarget) post(ctx context.Context, client *http.Client, ev HookEvent) (hookResult, string) {
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	select {
	case h.sem <- struct{}{}:
		defer func() { <-h.sem }()
	case <-ctx.Done():
		return hookError, "no free hook slot within the timeout"
	}
	body, _ := json.Marshal(ev) // plain strings and numbers: cannot fail
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url, bytes.NewReader(body))
	if err != nil {
		return hookError, err.Error()
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "bbllive-hook")
	resp, err := client.Do(req)
	if err != nil {
		return hookError, hookErrorText(err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // keep the connection reusable
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return hookRefused, fmt.Sprintf("the hook answered %d", resp.StatusCode)
	}
	return hookOK, ""
}

// hookErrorText names a failed call without its URL, which may carry a
// credential of the user's backend.
func hookErrorText(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "the hook did not answer in time"
	}
	return "the hook failed: " + err.Error()
}

// notification is an on_unpublish or on_stop waiting to be sent.
type notification struct {
	target *hookTarget
	ev     HookEvent
}

// notifyQueueSize bounds the notifications waiting to be sent; beyond it
// they are dropped and counted, so a slow hook never holds a session's end.
const notifyQueueSize = 1024

// notifyWorkers send the queued notifications.
const notifyWorkers = 4

// notifier sends on_unpublish and on_stop in the background.
type notifier struct {
	queue  chan notification
	client *http.Client
	m      *metrics
	log    *slog.Logger
	done   chan struct{}
}

func newNotifier(client *http.Client, m *metrics, log *slog.Logger) *notifier {
	n := &notifier{queue: make(chan notification, notifyQueueSize), client: client, m: m, log: log,
		done: make(chan struct{})}
	for range notifyWorkers {
		go n.run()
	}
	return n
}

// enqueue never blocks: it runs where a session ends, which may be an
// io_uring worker.
func (n *notifier) enqueue(t *hookTarget, ev HookEvent) {
	select {
	case n.queue <- notification{t, ev}:
	default:
		n.m.notifyDropped.Inc()
	}
}

func (n *notifier) run() {
	for {
		select {
		case nt := <-n.queue:
			res, why := nt.target.post(context.Background(), n.client, nt.ev)
			n.m.hookCalls.WithLabelValues(nt.ev.Event, string(res)).Inc()
			if res != hookOK {
				n.log.Warn("hook notification failed", "event", nt.ev.Event, "stream", nt.ev.Stream, "why", why)
			}
		case <-n.done:
			return
		}
	}
}

func (n *notifier) close() { close(n.done) }
