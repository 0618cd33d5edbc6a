package uring

import (
	"io"
	"net"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// BenchmarkNopBatch measures the ring's own overhead: one op is one NOP,
// submitted and reaped in batches of 32 per io_uring_enter.
func BenchmarkNopBatch(b *testing.B) {
	r := newRing(b, 64)
	fn := func(CQE) bool { return true }
	b.ReportAllocs()
	for done := 0; done < b.N; {
		n := min(32, b.N-done)
		for i := 0; i < n; i++ {
			r.GetSQE().PrepNop()
		}
		if _, err := r.SubmitAndWait(uint32(n)); err != nil {
			b.Fatal(err)
		}
		done += r.ForEachCQE(fn)
	}
	b.ReportMetric(float64(r.Stats().Enters)/float64(b.N), "enters/op")
}

// BenchmarkGetppid is the yardstick for BenchmarkNopBatch: one trivial
// system call.
func BenchmarkGetppid(b *testing.B) {
	for i := 0; i < b.N; i++ {
		unix.Getppid()
	}
}

const (
	benchIovecs = 16
	benchChunk  = 4 << 10
)

func benchBufs(seed byte) (data []byte, bufs [][]byte) {
	data = pattern(benchIovecs*benchChunk, seed)
	bufs = make([][]byte, benchIovecs)
	for i := range bufs {
		bufs[i] = data[i*benchChunk : (i+1)*benchChunk]
	}
	return data, bufs
}

// rawSink returns the writing end of a loopback connection as a raw
// blocking fd whose peer is drained by a goroutine, and a func that shuts
// the writer and waits for the drainer.
func rawSink(b *testing.B) (int, func()) {
	a, peer := tcpPair(b)
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 256<<10)
		for {
			n, err := unix.Read(peer, buf)
			if n <= 0 && err != unix.EINTR {
				return
			}
		}
	}()
	return a, func() {
		unix.Shutdown(a, unix.SHUT_WR)
		<-done
	}
}

// connSink is rawSink for a plain net.Conn writer.
func connSink(b *testing.B) (net.Conn, func()) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		io.Copy(io.Discard, c)
		c.Close()
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	return c, func() {
		c.Close()
		<-done
	}
}

// cpuTime returns the process's user+system CPU time, so benchmarks can
// report CPU per op next to wall time: on 2 vCPUs the two differ.
func cpuTime(b *testing.B) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkWritev16 writes 16 iovecs of 4 KiB per op to each of n loopback
// sockets drained by other goroutines. The ring puts all n WRITEVs in one
// io_uring_enter and resumes short writes; the baseline loops over
// net.Buffers writes. cpu-ns/op counts the whole process, drainers
// included, which do the same work in both.
func BenchmarkWritev16(b *testing.B) {
	for _, socks := range []int{1, 8} {
		b.Run("uring/socks="+strconv.Itoa(socks), func(b *testing.B) { benchUringWritev(b, socks) })
		b.Run("netBuffers/socks="+strconv.Itoa(socks), func(b *testing.B) { benchNetBuffers(b, socks) })
	}
}

func benchUringWritev(b *testing.B, socks int) {
	data, bufs := benchBufs(1)
	r := newRing(b, 16)
	src := AppendIovecs(nil, bufs...)
	fds := make([]int, socks)
	iovs := make([][]unix.Iovec, socks)
	left := make([][]unix.Iovec, socks)
	for k := range fds {
		var stop func()
		fds[k], stop = rawSink(b)
		defer stop()
		iovs[k] = make([]unix.Iovec, len(src))
	}
	busy := 0
	reap := func(c CQE) bool {
		if c.Res <= 0 {
			b.Fatalf("writev: %+v (%v)", c, c.Err())
		}
		k := c.UserData
		if left[k] = AdvanceIovecs(left[k], int(c.Res)); len(left[k]) == 0 {
			busy--
			return true
		}
		s := r.GetSQE()
		s.PrepWritev(int32(fds[k]), left[k], 0)
		s.UserData = k
		return true
	}
	b.SetBytes(int64(socks * len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime(b)
	for i := 0; i < b.N; i++ {
		for k := range fds {
			left[k] = iovs[k][:copy(iovs[k], src)]
			s := r.GetSQE()
			s.PrepWritev(int32(fds[k]), left[k], 0)
			s.UserData = uint64(k)
		}
		for busy = socks; busy > 0; {
			if _, err := r.SubmitAndWait(1); err != nil {
				b.Fatal(err)
			}
			r.ForEachCQE(reap)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(r.Stats().Enters)/float64(b.N), "enters/op")
}

func benchNetBuffers(b *testing.B, socks int) {
	data, bufs := benchBufs(1)
	conns := make([]net.Conn, socks)
	for k := range conns {
		var stop func()
		conns[k], stop = connSink(b)
		defer stop()
	}
	b.SetBytes(int64(socks * len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime(b)
	for i := 0; i < b.N; i++ {
		for _, c := range conns {
			nb := net.Buffers(append(make([][]byte, 0, benchIovecs), bufs...))
			if _, err := nb.WriteTo(c); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(b.N), "cpu-ns/op")
}
