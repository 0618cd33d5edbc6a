package hls

import (
	"testing"

	"github.com/bbllive/bbllive/rtmp"
)

// TestQueueOverflowDropsToKeyframe: a remuxer that falls behind never
// blocks ingest; it drops (and counts) media up to the next keyframe and
// marks the gap there, while sequence headers still get through.
func TestQueueOverflowDropsToKeyframe(t *testing.T) {
	m := &remuxer{q: make(chan queued, 3)}
	inter := &rtmp.Message{Type: rtmp.TypeVideo, Payload: []byte{0x27, 1, 0, 0, 0, 9}}
	key := &rtmp.Message{Type: rtmp.TypeVideo, Payload: []byte{0x17, 1, 0, 0, 0, 9}}
	seq := &rtmp.Message{Type: rtmp.TypeVideo, Payload: []byte{0x17, 0, 0, 0, 0, 1}}
	audio := &rtmp.Message{Type: rtmp.TypeAudio, Payload: []byte{0xaf, 1, 9}}
	meta := &rtmp.Message{Type: rtmp.TypeDataAMF0, Payload: []byte{2}}

	m.TapMessage(key)
	m.TapMessage(inter)
	m.TapMessage(inter)
	m.TapMessage(inter) // queue full: dropped, dropping from here
	m.TapMessage(meta)  // not media: ignored, not counted
	if m.dropped.Load() != 1 || !m.dropping.Load() {
		t.Fatalf("dropped %d, dropping %v", m.dropped.Load(), m.dropping.Load())
	}
	<-m.q
	<-m.q
	<-m.q
	m.TapMessage(audio) // still dropping: up to the keyframe
	m.TapMessage(inter)
	m.TapMessage(seq) // headers always try
	m.TapMessage(key)
	m.TapMessage(inter)
	if got := m.dropped.Load(); got != 3 {
		t.Fatalf("dropped %d, want 3", got)
	}
	if h := <-m.q; !rtmp.IsVideoSequenceHeader(h.payload) || h.gap {
		t.Fatalf("first after the overflow %+v, want the sequence header", h)
	}
	if k := <-m.q; !rtmp.IsKeyframe(k.payload) || !k.gap {
		t.Fatalf("%+v, want the keyframe marked as after a gap", k)
	}
	if m.dropping.Load() {
		t.Fatal("still dropping after the keyframe")
	}
	// The message's buffer is the publisher's: the queue holds a copy.
	inter.Payload[5] = 7
	if i := <-m.q; i.payload[5] != 9 {
		t.Fatal("the queue aliases the ingest buffer")
	}
}
