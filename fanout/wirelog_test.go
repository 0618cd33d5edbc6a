package fanout

import (
	"bytes"
	"testing"

	"golang.org/x/sys/unix"
)

func iovBytes(iov []unix.Iovec) []byte {
	var out []byte
	for _, v := range iov {
		out = append(out, unsafeSlice(v)...)
	}
	return out
}

func TestWireLogAppendAndRead(t *testing.T) {
	tests := []struct {
		name  string
		sizes []int
	}{
		{"small messages", []int{10, 20, 30}},
		{"message spanning blocks", []int{blockSize - 5, 100, 3 * blockSize}},
		{"exactly a block", []int{blockSize, blockSize}},
		{"empty message", []int{0, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var l wireLog
			l.init(1<<30, 1<<30, nil)
			defer l.release()
			var want []byte
			for i, n := range tt.sizes {
				msg := bytes.Repeat([]byte{byte(i + 1)}, n)
				l.append(msg, i == 0, uint32(i))
				want = append(want, msg...)
			}
			var v logView
			v.take(&l)
			defer v.release()
			if v.head != uint64(len(want)) {
				t.Fatalf("head %d, want %d", v.head, len(want))
			}
			got := iovBytes(v.appendIovecs(nil, 0, v.head, maxIovecs))
			if !bytes.Equal(got, want) {
				t.Fatalf("read back %d bytes that differ from the %d appended", len(got), len(want))
			}
			// A range that starts and ends inside blocks.
			if len(want) > 7 {
				got = iovBytes(v.appendIovecs(nil, 3, v.head-2, maxIovecs))
				if !bytes.Equal(got, want[3:len(want)-2]) {
					t.Fatal("partial range differs")
				}
			}
		})
	}
}

func TestWireLogTrimKeepsGOPAndLagWindow(t *testing.T) {
	var l wireLog
	const lag = 2 * blockSize
	l.init(lag, 64*blockSize, nil)
	defer l.release()
	msg := make([]byte, 1000)
	// A keyframe, then enough data to exceed twice the lag window.
	l.append(msg, true, 0)
	for range 400 {
		l.append(msg, false, 0)
	}
	if tail := l.tail(); tail != 0 {
		t.Fatalf("tail %d: the GOP from position 0 must be kept", tail)
	}
	// A new keyframe lets everything older than 2×lag behind the head go.
	l.append(msg, true, 0)
	for range 10 {
		l.append(msg, false, 0)
	}
	head := l.head.Load()
	if tail := l.tail(); tail == 0 || head-tail > 2*lag+blockSize {
		t.Fatalf("tail %d head %d: want at most 2×lag+1 block retained", tail, head)
	}
	if end, atStart := l.messageEnd(l.keyPos); !atStart || end != l.keyPos {
		t.Fatalf("keyframe position is not a message start (end %d, atStart %v)", end, atStart)
	}
	if end, atStart := l.messageEnd(l.keyPos + 10); atStart || end != l.keyPos+1000 {
		t.Fatalf("messageEnd inside the keyframe message = %d,%v, want %d,false", end, atStart, l.keyPos+1000)
	}
}

func TestWireLogCacheCapDropsLongGOP(t *testing.T) {
	var l wireLog
	l.init(blockSize, 4*blockSize, nil)
	defer l.release()
	l.append(make([]byte, 100), true, 0)
	for range 20 {
		l.append(make([]byte, blockSize/2), false, 0)
	}
	if l.keyPos != noPos {
		t.Fatal("a GOP longer than the cache cap must stop being a join point")
	}
	if n := l.blocks.len(); n > 5 {
		t.Fatalf("%d blocks retained, cap is 4 (+1 partial)", n)
	}
}

func TestViewPinsBlocksAcrossTrim(t *testing.T) {
	var l wireLog
	l.init(blockSize, 4*blockSize, nil)
	first := bytes.Repeat([]byte{0xAB}, blockSize)
	l.append(first, true, 0)
	var v logView
	v.take(&l)
	pinned := v.blocks[0]
	// Push the first block out of retention while the view holds it.
	for i := range 40 {
		l.append(bytes.Repeat([]byte{byte(i)}, blockSize/2), i%8 == 0, 0)
	}
	if l.tail() == 0 {
		t.Fatal("first block still retained; test needs it trimmed")
	}
	if pinned.refs.Load() != 1 {
		t.Fatalf("trimmed but pinned block has %d refs, want 1 (the view)", pinned.refs.Load())
	}
	if !bytes.Equal(pinned.buf, first) {
		t.Fatal("a pinned block was overwritten")
	}
	v.release()
	l.release()
}

func BenchmarkWireLogAppend(b *testing.B) {
	var l wireLog
	l.init(DefaultLagWindow, DefaultMaxCache, nil)
	defer l.release()
	msg := make([]byte, 4096+12)
	for i := range 2000 { // warm up until blocks are recycled
		l.append(msg, i%50 == 0, uint32(i))
	}
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		l.append(msg, i%50 == 0, uint32(i))
	}
}
