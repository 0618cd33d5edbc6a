package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bbllive/bbllive/bench/flv"
	"github.com/bbllive/bbllive/bench/synth"
	"github.com/bbllive/bbllive/rtmp"
)

// MediaSource yields a stream's messages in order, each with the time from
// the start of the stream at which it is due.
type MediaSource interface {
	Next() (*rtmp.Message, time.Duration, error)
}

// SynthSource adapts a synthetic source; it never fails.
func SynthSource(s *synth.Source) MediaSource { return synthAdapter{s} }

type synthAdapter struct{ s *synth.Source }

func (a synthAdapter) Next() (*rtmp.Message, time.Duration, error) {
	m, d := a.s.Next()
	return m, d, nil
}

// FileSource replays an FLV file in a loop, like ffmpeg's -stream_loop -1
// -c copy: timestamps continue across loops (one frame interval after the
// last tag), and metadata and sequence headers are sent only on the first
// pass. It is not safe for concurrent use.
type FileSource struct {
	f        *os.File
	r        *flv.Reader
	pass     int
	base     int64 // first timestamp of the file
	offset   int64 // ms added to this pass
	last     int64 // last timestamp of this pass, offset applied
	interval int64 // the last video frame interval seen, ms
	lastVid  int64
	tags     int
}

// OpenFLV opens path for looping replay.
func OpenFLV(path string) (*FileSource, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	r, err := flv.NewReader(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &FileSource{f: f, r: r, base: -1, interval: 40, lastVid: -1}, nil
}

// Close closes the file.
func (s *FileSource) Close() error { return s.f.Close() }

// Next returns the next tag as a message.
func (s *FileSource) Next() (*rtmp.Message, time.Duration, error) {
	for {
		t, err := s.r.Next()
		if err == io.EOF {
			if err := s.rewind(); err != nil {
				return nil, 0, err
			}
			continue
		}
		if err != nil {
			return nil, 0, err
		}
		m, ok := s.message(t)
		if !ok {
			continue
		}
		return m, time.Duration(m.Timestamp) * time.Millisecond, nil
	}
}

// rewind starts the next pass; a file without a single tag is an error
// rather than a busy loop.
func (s *FileSource) rewind() error {
	if s.tags == 0 {
		return errors.New("flv: file has no audio or video tags")
	}
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	r, err := flv.NewReader(s.f)
	if err != nil {
		return err
	}
	s.r = r
	s.pass++
	s.offset = s.last + s.interval
	s.tags = 0
	return nil
}

func (s *FileSource) message(t *flv.Tag) (*rtmp.Message, bool) {
	m := &rtmp.Message{Type: t.Type}
	switch t.Type {
	case flv.TagVideo:
		m.CSID = rtmp.CSIDVideo
	case flv.TagAudio:
		m.CSID = rtmp.CSIDAudio
	case flv.TagScript:
		m.CSID = rtmp.CSIDData
	default:
		return nil, false
	}
	if s.base < 0 {
		s.base = int64(t.Timestamp)
	}
	ts := max(int64(t.Timestamp)-s.base, 0) + s.offset
	if t.Type == flv.TagScript || rtmp.IsSequenceHeader(t.Type, t.Data) {
		if s.pass > 0 {
			return nil, false
		}
		ts = s.offset
	} else {
		s.tags++
	}
	if t.Type == flv.TagVideo && !rtmp.IsVideoSequenceHeader(t.Data) {
		if s.lastVid >= 0 && ts > s.lastVid {
			s.interval = ts - s.lastVid
		}
		s.lastVid = ts
	}
	s.last = max(s.last, ts)
	m.Timestamp = uint32(ts)
	if t.Type == flv.TagScript {
		// Publishers wrap metadata in @setDataFrame, as ffmpeg does.
		head, _ := rtmp.AppendAMF0(nil, "@setDataFrame")
		m.Payload = append(head, t.Data...)
	} else {
		m.Payload = append([]byte(nil), t.Data...)
	}
	return m, true
}

// PublishStats counts what a publisher sent.
type PublishStats struct {
	Messages atomic.Uint64
	Bytes    atomic.Uint64
	// MaxLateNs is the worst lateness of a message against real time.
	MaxLateNs atomic.Int64
}

// Publish connects to url, publishes, and sends src in real time until ctx
// ends or an error occurs; at ctx's end it returns nil. stats, if not nil,
// is updated as messages go out. ready, if not nil, is called once the
// server accepted the publish.
func Publish(ctx context.Context, url string, src MediaSource, stats *PublishStats, ready func()) error {
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	c, err := rtmp.Dial(dctx, url)
	cancel()
	if err != nil {
		return fmt.Errorf("publish %s: %w", url, err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Conn().SetDeadline(time.Now()) })
	defer stop()
	if err := c.Publish(); err != nil {
		return fmt.Errorf("publish %s: %w", url, err)
	}
	if ready != nil {
		ready()
	}
	if stats == nil {
		stats = new(PublishStats)
	}
	start := time.Now()
	for ctx.Err() == nil {
		m, due, err := src.Next()
		if err != nil {
			return fmt.Errorf("publish %s: %w", url, err)
		}
		if wait := due - time.Since(start); wait > 0 {
			if err := c.Flush(); err != nil {
				return ctxOr(ctx, err)
			}
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return nil
			}
		} else if late := int64(-wait); late > stats.MaxLateNs.Load() {
			stats.MaxLateNs.Store(late)
		}
		if err := c.WriteMessage(m); err != nil {
			return ctxOr(ctx, err)
		}
		stats.Messages.Add(1)
		stats.Bytes.Add(uint64(len(m.Payload)))
	}
	return nil
}

// ctxOr hides the error a cancelled context caused.
func ctxOr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// PublishMany runs n publishers of newSource(i) to ExpandName(pattern, i)
// until ctx ends, and waits until all have been accepted (or failed).
// The returned wait function blocks until all have stopped and returns
// their first error.
func PublishMany(ctx context.Context, pattern string, n int, newSource func(i int) (MediaSource, error), stats *PublishStats) (wait func() error, err error) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	accepted := make(chan struct{}, n)
	fail := func(err error) {
		mu.Lock()
		if first == nil {
			first = err
		}
		mu.Unlock()
	}
	for i := range n {
		url, err := ExpandName(pattern, i)
		if err != nil {
			return nil, err
		}
		src, err := newSource(i)
		if err != nil {
			return nil, err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			once := sync.OnceFunc(func() { accepted <- struct{}{} })
			defer once()
			if err := Publish(ctx, url, src, stats, once); err != nil {
				fail(err)
			}
		}()
	}
	for range n {
		select {
		case <-accepted:
		case <-ctx.Done():
		}
	}
	wait = func() error {
		wg.Wait()
		return first
	}
	mu.Lock()
	defer mu.Unlock()
	return wait, first
}
