package bench

import (
	"maps"
	"testing"
	"time"

	"github.com/bbllive/bbllive/bench/synth"
	"github.com/bbllive/bbllive/rtmp"
)

// synthMessages returns the first n messages of a synthetic stream.
func synthMessages(t *testing.T, n int) []*rtmp.Message {
	t.Helper()
	s, err := synth.New(synth.Config{Audio: true, GOP: 10})
	if err != nil {
		t.Fatal(err)
	}
	out := make([]*rtmp.Message, n)
	for i := range out {
		out[i], _ = s.Next()
	}
	return out
}

func TestChecker(t *testing.T) {
	msgs := synthMessages(t, 60)
	var firstP, firstKey2 int // index of the first P frame and of the second keyframe
	frames := 0
	for i, m := range msgs {
		if m.Type != rtmp.TypeVideo || rtmp.IsVideoSequenceHeader(m.Payload) {
			continue
		}
		switch {
		case frames == 1:
			firstP = i
		case rtmp.IsKeyframe(m.Payload) && frames > 0:
			firstKey2 = i
		}
		frames++
	}
	if firstKey2 == 0 {
		t.Fatal("no second keyframe in the sample")
	}
	drop := func(idx ...int) []*rtmp.Message {
		var out []*rtmp.Message
		for i, m := range msgs {
			skip := false
			for _, d := range idx {
				skip = skip || i == d
			}
			if !skip {
				out = append(out, m)
			}
		}
		return out
	}
	fileLike := func(ms []*rtmp.Message) []*rtmp.Message {
		// The same stream without frame counters: a file's frames.
		var out []*rtmp.Message
		for _, m := range ms {
			c := *m
			if m.Type == rtmp.TypeVideo && !rtmp.IsVideoSequenceHeader(m.Payload) {
				c.Payload = c.Payload[:5:5]
			}
			out = append(out, &c)
		}
		return out
	}
	backwards := func(ms []*rtmp.Message, typ uint8) []*rtmp.Message {
		out := append([]*rtmp.Message(nil), ms...)
		for i := len(out) - 1; i > 0; i-- {
			if out[i].Type == typ {
				c := *out[i]
				c.Timestamp = 0
				out[i] = &c
				break
			}
		}
		return out
	}
	withJump := func(ms []*rtmp.Message) []*rtmp.Message {
		out := append([]*rtmp.Message(nil), ms...)
		for i := range out {
			if i > firstP && out[i].Type == rtmp.TypeVideo {
				c := *out[i]
				c.Timestamp += 5000
				out[i] = &c
			}
		}
		return out
	}
	tests := []struct {
		name string
		msgs []*rtmp.Message
		want map[string]int
	}{
		{"clean", msgs, nil},
		{"dropped frame", drop(firstP), map[string]int{ViolationGap: 1}},
		{"starts on a P frame", msgs[firstP:], map[string]int{ViolationNotKeyFirst: 1, ViolationNoSeqHeader: 1}},
		{"no sequence header", drop(1), map[string]int{ViolationNoSeqHeader: 1}},
		{"video goes back", backwards(msgs, rtmp.TypeVideo), map[string]int{ViolationBackwardsVideo: 1}},
		{"audio goes back", backwards(msgs, rtmp.TypeAudio), map[string]int{ViolationBackwardsAudio: 1}},
		{"file: clean", fileLike(msgs), nil},
		{"file: dropped frames keep small steps", fileLike(drop(firstP)), nil},
		{"file: timestamp jump", fileLike(withJump(msgs)), map[string]int{ViolationGap: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newChecker(time.Second)
			for _, m := range tt.msgs {
				c.check(m)
			}
			if !maps.Equal(c.violations, tt.want) && (len(c.violations) != 0 || len(tt.want) != 0) {
				t.Errorf("violations %v, want %v", c.violations, tt.want)
			}
		})
	}
}
