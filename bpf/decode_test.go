package bpf

import (
	"testing"
	"time"
	"unsafe"
)

// record lays v out as the iterator writes it.
func record(v sockstatsSockStats) []byte {
	return append([]byte(nil), unsafe.Slice((*byte)(unsafe.Pointer(&v)), recordSize)...)
}

func TestDecodeRecords(t *testing.T) {
	a := record(sockstatsSockStats{Cookie: 7, BytesSent: 100, BytesReceived: 5, SegsOut: 2, SrttUs: 250, SndCwnd: 10, SendQueue: 3, TotalRetrans: 1})
	b := record(sockstatsSockStats{Cookie: 9, BytesSent: 1})
	cases := []struct {
		name    string
		data    []byte
		want    map[uint64]uint64 // cookie → bytes sent
		wantErr bool
	}{
		{"empty", nil, map[uint64]uint64{}, false},
		{"two sockets", append(append([]byte(nil), a...), b...), map[uint64]uint64{7: 100, 9: 1}, false},
		{"one socket under two descriptors", append(append([]byte(nil), a...), a...), map[uint64]uint64{7: 100}, false},
		{"torn record", append(append([]byte(nil), a...), b[:10]...), nil, true},
	}
	for _, tc := range cases {
		got, err := decodeRecords(tc.data)
		if (err != nil) != tc.wantErr {
			t.Errorf("%s: error %v, want error %v", tc.name, err, tc.wantErr)
			continue
		}
		if tc.wantErr {
			continue
		}
		if len(got) != len(tc.want) {
			t.Errorf("%s: %d sockets, want %d", tc.name, len(got), len(tc.want))
		}
		for cookie, sent := range tc.want {
			if got[cookie].BytesSent != sent {
				t.Errorf("%s: cookie %d sent %d, want %d", tc.name, cookie, got[cookie].BytesSent, sent)
			}
		}
	}
	got, _ := decodeRecords(a)
	s := got[7]
	if s.SRTT != 250*time.Microsecond || s.Cwnd != 10 || s.SendQueue != 3 || s.Retransmits != 1 || s.SegmentsOut != 2 || s.BytesReceived != 5 {
		t.Errorf("fields not carried over: %+v", s)
	}
}

func FuzzDecodeRecords(f *testing.F) {
	f.Add(record(sockstatsSockStats{Cookie: 1, BytesSent: 2}))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := decodeRecords(data)
		if err == nil && len(got) > len(data)/recordSize {
			t.Fatalf("%d sockets from %d bytes", len(got), len(data))
		}
		if err != nil && len(data)%recordSize == 0 {
			t.Fatalf("whole records rejected: %v", err)
		}
	})
}
