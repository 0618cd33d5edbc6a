package access

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestIPLists(t *testing.T) {
	c, _ := newTestController(t, Config{PublishAllow: "127.0.0.0/8, ::1", PublishDeny: "127.0.0.9",
		PlayDeny: "10.0.0.0/8"})
	cases := []struct {
		action Action
		remote string
		want   string
	}{
		{Publish, "127.0.0.1:1935", ""},
		{Publish, "[::1]:1935", ""},
		{Publish, "[::ffff:127.0.0.1]:1935", ""}, // v4-mapped is the v4 address
		{Publish, "127.0.0.9:1", ReasonIPDenied},
		{Publish, "192.0.2.1:1", ReasonIPDenied},
		{Publish, "not an address", ReasonIPDenied},
		{Play, "192.0.2.1:1", ""},
		{Play, "10.1.2.3:1", ReasonIPDenied},
	}
	for _, tc := range cases {
		a, err := admit(c, Request{Action: tc.action, App: "live", Name: "x", Remote: tc.remote})
		if got := reasonOf(t, err); got != tc.want {
			t.Errorf("%s from %s: %q, want %q", tc.action, tc.remote, got, tc.want)
		}
		a.Done()
	}
	if got := counterValue(t, c.m.refused.WithLabelValues("publish", ReasonIPDenied)); got != 3 {
		t.Errorf("publish ip_denied counted %v times, want 3", got)
	}
	if _, err := ParseIPList("10.0.0.0/33"); err == nil {
		t.Error("a /33 parsed")
	}
	if _, err := New(Config{PlayAllow: "nonsense"}, nil); err == nil || !strings.Contains(err.Error(), "-play-allow") {
		t.Errorf("bad list: %v", err)
	}
}

func TestLimits(t *testing.T) {
	c, _ := newTestController(t, Config{MaxConnections: 4, MaxPlayersPerStream: 2, MaxStreams: 1})
	req := func(a Action, name string) Request {
		return Request{Action: a, App: "live", Name: name, Remote: "127.0.0.1:1"}
	}
	must := func(r Request) *Admission {
		t.Helper()
		a, err := admit(c, r)
		if err != nil {
			t.Fatalf("%s %s: %v", r.Action, r.Stream(), err)
		}
		return a
	}
	refused := func(r Request, want string) {
		t.Helper()
		if _, err := admit(c, r); reasonOf(t, err) != want {
			t.Fatalf("%s %s: %v, want %s", r.Action, r.Stream(), err, want)
		}
	}
	pub := must(req(Publish, "a"))
	refused(req(Publish, "b"), ReasonMaxStreams)
	p1, p2 := must(req(Play, "a")), must(req(Play, "a"))
	refused(req(Play, "a"), ReasonMaxPlayers)
	p3 := must(req(Play, "b")) // another stream's players count apart
	refused(req(Play, "c"), ReasonMaxConnections)
	p1.Done()
	p1.Done() // twice is once
	p4 := must(req(Play, "a"))
	pub.Done()
	pub2 := must(req(Publish, "b"))
	for _, a := range []*Admission{p2, p3, p4, pub2} {
		a.Done()
	}
	c.mu.Lock()
	n := c.count
	c.mu.Unlock()
	if n.players != 0 || n.publishers != 0 || len(n.perStream) != 0 || len(n.published) != 0 {
		t.Errorf("counts after every Done: %+v", n)
	}
}

// hookServer is a real HTTP hook that records the events it receives and
// answers as told.
type hookServer struct {
	*httptest.Server
	mu     sync.Mutex
	events []HookEvent
	status atomic.Int32 // answer; 0 hangs until the request is cancelled
}

func newHookServer(t *testing.T, status int) *hookServer {
	h := &hookServer{}
	h.status.Store(int32(status))
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev HookEvent
		if err := json.NewDecoder(r.Body).Decode(&ev); err != nil || r.Method != http.MethodPost {
			http.Error(w, "bad hook request", http.StatusBadRequest)
			return
		}
		h.mu.Lock()
		h.events = append(h.events, ev)
		h.mu.Unlock()
		st := int(h.status.Load())
		if st == 0 {
			<-r.Context().Done()
			return
		}
		w.WriteHeader(st)
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hookServer) got() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, e := range h.events {
		out = append(out, e.Event)
	}
	return out
}

func TestHooks(t *testing.T) {
	// A port nothing listens on: the hook is down.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	downURL := "http://" + l.Addr().String() + "/hook"
	l.Close()
	cases := []struct {
		name     string
		status   int // 0: hangs
		down     bool
		failOpen bool
		want     string
		events   []string // what the hook received by the end
	}{
		{"accepts", 200, false, false, "", []string{EventConnect, EventPlay, EventStop}},
		{"accepts with 204", 204, false, false, "", []string{EventConnect, EventPlay, EventStop}},
		{"refuses", 403, false, false, ReasonHookRefused, []string{EventConnect}},
		{"redirect is not success", 302, false, false, ReasonHookRefused, []string{EventConnect}},
		{"hangs", 0, false, false, ReasonHookFailed, []string{EventConnect}},
		{"hangs, fail-open", 0, false, true, "", []string{EventConnect, EventPlay, EventStop}},
		{"down", 0, true, false, ReasonHookFailed, nil},
		{"down, fail-open", 0, true, true, "", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHookServer(t, tc.status)
			url := h.URL + "/hook"
			if tc.down {
				url = downURL
			}
			c, _ := newTestController(t, Config{HookURL: url, HookTimeout: 300 * time.Millisecond, HookFailOpen: tc.failOpen})
			start := time.Now()
			a, err := admit(c, Request{Action: Play, App: "live", Name: "x", Query: "k=v", Remote: "127.0.0.1:4", Protocol: ProtoRTMP, ID: 7})
			if got := reasonOf(t, err); got != tc.want {
				t.Fatalf("reason %q, want %q (%v)", got, tc.want, err)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("the decision took %v with a 300ms hook timeout", d)
			}
			a.Done()
			if len(tc.events) > 0 && tc.events[len(tc.events)-1] == EventStop {
				waitUntil(t, "on_stop", func() bool { return len(h.got()) == len(tc.events) })
			}
			if got := h.got(); strings.Join(got, ",") != strings.Join(tc.events, ",") {
				t.Errorf("hook got %v, want %v", got, tc.events)
			}
			if len(h.events) > 0 {
				ev := h.events[0]
				if ev.App != "live" || ev.Name != "x" || ev.Stream != "live/x" || ev.Query != "k=v" ||
					ev.ClientAddr != "127.0.0.1:4" || ev.Protocol != "rtmp" || ev.Action != Play || ev.ClientID != 7 {
					t.Errorf("event %+v", ev)
				}
			}
		})
	}
}

// TestHookPublishEvents: a publish is announced with on_publish and its
// end with on_unpublish.
func TestHookPublishEvents(t *testing.T) {
	h := newHookServer(t, 200)
	c, _ := newTestController(t, Config{HookURL: h.URL})
	a, err := admit(c, Request{Action: Publish, App: "live", Name: "x", Remote: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	a.Done()
	waitUntil(t, "on_unpublish", func() bool { return len(h.got()) == 3 })
	if got := strings.Join(h.got(), ","); got != "on_connect,on_publish,on_unpublish" {
		t.Errorf("events %s", got)
	}
}

// TestHookConcurrencyBounded: with one slot, a second check waits for the
// first and, past the timeout, fails rather than opening another request.
func TestHookConcurrencyBounded(t *testing.T) {
	// With a concurrency of 1 and the hook hanging, a second and third
	// admission wait for the one slot instead of reaching the hook; each
	// still gives up within its own timeout. The check holds no matter
	// how late the goroutines run: nothing can release the slot before
	// the first request's 2 s timeout.
	h := newHookServer(t, 0) // hangs
	c, _ := newTestController(t, Config{HookURL: h.URL, HookTimeout: 2 * time.Second, HookConcurrency: 1})
	errs := make([]error, 3)
	var wg sync.WaitGroup
	start := func(i int) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = admit(c, Request{Action: Play, App: "live", Name: "x", Remote: "127.0.0.1:1"})
		}()
	}
	start(0)
	deadline := time.Now().Add(time.Second)
	for len(h.got()) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if len(h.got()) != 1 {
		t.Fatalf("the first hook request did not arrive within 1 s")
	}
	start(1)
	start(2)
	time.Sleep(300 * time.Millisecond)
	if n := len(h.got()); n != 1 {
		t.Errorf("%d hook requests in flight with a concurrency of 1", n)
	}
	wg.Wait()
	for _, err := range errs {
		if reasonOf(t, err) != ReasonHookFailed {
			t.Errorf("%v", err)
		}
	}
}

// TestNotificationsNeverBlock: with the hook hanging, Done returns at once
// and what does not fit the queue is dropped and counted.
func TestNotificationsNeverBlock(t *testing.T) {
	h := newHookServer(t, 200)
	c, _ := newTestController(t, Config{HookURL: h.URL, HookTimeout: 5 * time.Second, HookConcurrency: 1})
	var adms []*Admission
	for range notifyQueueSize + notifyWorkers + 50 {
		a, err := admit(c, Request{Action: Play, App: "live", Name: "x", Remote: "127.0.0.1:1"})
		if err != nil {
			t.Fatal(err)
		}
		adms = append(adms, a)
	}
	h.status.Store(0) // from now on the hook hangs
	start := time.Now()
	for _, a := range adms {
		a.Done()
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("%d Done calls took %v", len(adms), d)
	}
	if dropped := counterValue(t, c.m.notifyDropped); dropped < 40 {
		t.Errorf("%v notifications dropped, want at least 40", dropped)
	}
}

func TestReload(t *testing.T) {
	c, _ := newTestController(t, Config{Secret: "old"})
	tok := func(secret string) string {
		return "token=" + mint(t, MintOptions{Action: Play, Stream: "live/x", TTL: time.Hour, Secret: []byte(secret)})
	}
	req := func(q string) Request {
		return Request{Action: Play, App: "live", Name: "x", Query: q, Remote: "127.0.0.1:1"}
	}
	held, err := admit(c, req(tok("old")))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Reload(Config{Secret: "new", MaxPlayersPerStream: 2}); err != nil {
		t.Fatal(err)
	}
	if _, err := admit(c, req(tok("old"))); reasonOf(t, err) != ReasonTokenInvalid {
		t.Errorf("old secret after rotation: %v", err)
	}
	a, err := admit(c, req(tok("new")))
	if err != nil {
		t.Fatalf("new secret: %v", err)
	}
	// The one admitted before the reload still counts against the new limit.
	if _, err := admit(c, req(tok("new"))); reasonOf(t, err) != ReasonMaxPlayers {
		t.Errorf("third player: %v", err)
	}
	if err := c.Reload(Config{Secret: "newer", PlayDeny: "garbage"}); err == nil {
		t.Fatal("a bad config reloaded")
	}
	if _, err := admit(c, req(tok("newer"))); reasonOf(t, err) != ReasonTokenInvalid {
		t.Errorf("a failed reload changed the secret: %v", err)
	}
	held.Done()
	a.Done()
}

func TestHTTPStatus(t *testing.T) {
	for reason, want := range map[string]int{ReasonTokenMissing: 401, ReasonTokenExpired: 401, ReasonTokenInvalid: 401,
		ReasonTokenAction: 403, ReasonTokenStream: 403, ReasonIPDenied: 403, ReasonHookRefused: 403, ReasonHookFailed: 403,
		ReasonMaxPlayers: 503} {
		if got := (&Refusal{Reason: reason}).HTTPStatus(); got != want {
			t.Errorf("%s: %d, want %d", reason, got, want)
		}
		if got := HTTPStatusOf(fmt.Errorf("wrapped: %w", &Refusal{Reason: reason})); got != want {
			t.Errorf("wrapped %s: %d, want %d", reason, got, want)
		}
	}
	if got := HTTPStatusOf(errors.New("other")); got != 500 {
		t.Errorf("another error: %d", got)
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
