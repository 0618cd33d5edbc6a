package rtmp

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

// refusingHandler refuses every play in AdmitPlay (when refuse is set) and
// counts the holds it hands out and gets back.
type refusingHandler struct {
	refuse          bool
	played          atomic.Int32
	holds, released atomic.Int32
}

type testHold struct{ h *refusingHandler }

func (t testHold) Done() { t.h.released.Add(1) }

type statusErr struct{ code string }

func (e statusErr) Error() string      { return "refused by test" }
func (e statusErr) StatusCode() string { return e.code }

type nopPlayer struct{}

func (nopPlayer) Close() error { return nil }

func (h *refusingHandler) Publish(*Session) (Publisher, error) { return nil, errors.New("no") }

func (h *refusingHandler) AdmitPlay(*Session) (Hold, error) {
	if h.refuse {
		return nil, statusErr{CodePlayFailed}
	}
	h.holds.Add(1)
	return testHold{h}, nil
}

func (h *refusingHandler) Play(s *Session) (Player, error) {
	h.played.Add(1)
	if hold := s.PlayHold(); hold != nil {
		hold.Done()
	}
	return nopPlayer{}, nil
}

// startTestServer serves h on a loopback listener until the test ends.
func startTestServer(t *testing.T, h Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &Server{Handler: h, Logger: slog.New(slog.DiscardHandler)}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// playTrace sends play and lists what the server sends back until it
// closes the connection or quiet passes: onStatus codes, "stream-begin"
// and friends for user control events, "data" and "media" for the rest.
func playTrace(t *testing.T, addr string, quiet time.Duration) (trace []string, closed bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, "rtmp://"+addr+"/live/x")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.createStream(); err != nil {
		t.Fatal(err)
	}
	if err := c.streamCommand("play", c.name, -2.0); err != nil {
		t.Fatal(err)
	}
	for {
		c.conn.SetReadDeadline(time.Now().Add(quiet))
		m, err := c.ReadMessage()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return trace, false
			}
			return trace, errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed)
		}
		switch m.Type {
		case TypeCommandAMF0:
			cmd, err := ParseCommand(m.Type, m.Payload)
			if err != nil {
				t.Fatal(err)
			}
			trace = append(trace, cmd.Name+" "+cmd.StatusCode())
		case TypeUserControl:
			trace = append(trace, "user-control")
		case TypeDataAMF0:
			trace = append(trace, "data")
		default:
			trace = append(trace, "media")
		}
	}
}

// A play its handler's AdmitPlay refuses hears the refusal first and
// alone, then the connection closes; an admitted one hears the usual
// replies and its hold reaches Play.
func TestSessionPlayAdmission(t *testing.T) {
	t.Run("refused", func(t *testing.T) {
		h := &refusingHandler{refuse: true}
		trace, closed := playTrace(t, startTestServer(t, h), 5*time.Second)
		if want := []string{"onStatus " + CodePlayFailed}; !slices.Equal(trace, want) {
			t.Errorf("server sent %q; want %q alone", trace, want)
		}
		if !closed {
			t.Error("connection left open after the refusal")
		}
		if h.played.Load() != 0 {
			t.Error("Play called for a refused player")
		}
	})
	t.Run("admitted", func(t *testing.T) {
		h := &refusingHandler{}
		trace, _ := playTrace(t, startTestServer(t, h), 300*time.Millisecond)
		want := []string{"user-control", "user-control", "onStatus " + CodePlayReset, "onStatus " + CodePlayStart, "data"}
		if !slices.Equal(trace, want) {
			t.Errorf("server sent %q; want %q", trace, want)
		}
		if h.played.Load() != 1 || h.holds.Load() != 1 || h.released.Load() != 1 {
			t.Errorf("played %d, holds %d, released %d; want 1 each", h.played.Load(), h.holds.Load(), h.released.Load())
		}
	})
}
