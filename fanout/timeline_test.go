package fanout

import "testing"

func TestTimeline(t *testing.T) {
	tests := []struct {
		name   string
		steps  []uint32 // publisher timestamps; 0xFFFFFFFF marks a reconnect
		expect []uint32
	}{
		{"starts at zero", []uint32{1000, 1040, 1080}, []uint32{0, 40, 80}},
		{"interleave tolerated", []uint32{0, 40, 23, 80}, []uint32{0, 40, 23, 80}},
		{"reconnect continues", []uint32{0, 40, 80, 0xFFFFFFFF, 0, 40}, []uint32{0, 40, 80, 120, 160}},
		{"clock jump forward", []uint32{0, 40, 500000, 500040}, []uint32{0, 40, 40, 80}},
		{"clock reset backward", []uint32{50000, 50040, 10, 50}, []uint32{0, 40, 40, 80}},
		{"32-bit wrap", []uint32{0xFFFFFF00, 0xFFFFFF28, 0x10}, []uint32{0, 40, 272}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tl timeline
			var got []uint32
			for _, s := range tt.steps {
				if s == 0xFFFFFFFF {
					tl.resync = true
					continue
				}
				got = append(got, tl.next(s))
			}
			if len(got) != len(tt.expect) {
				t.Fatalf("got %v, want %v", got, tt.expect)
			}
			for i := range got {
				if got[i] != tt.expect[i] {
					t.Fatalf("got %v, want %v", got, tt.expect)
				}
			}
		})
	}
}
