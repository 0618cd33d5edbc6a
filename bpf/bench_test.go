package bpf

import (
	"fmt"
	"io"
	"os"

	"github.com/cilium/ebpf"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// BenchmarkLoopbackWrite measures what the probes cost the traffic they
// count: the same loopback writes with nothing attached, with the socket
// probes, and with the syscall counter. Compare cpu-ns/op of the variants
// of one size: it is the process's CPU time (the sender, the receiving
// goroutine and the loopback's softirq work all run here), steadier than
// wall time on a shared machine. Small writes show the per-call overhead.
func BenchmarkLoopbackWrite(b *testing.B) {
	for _, size := range []int{1 << 10, 64 << 10} {
		for _, mode := range []string{"bare", "probes", "syscalls"} {
			b.Run(fmt.Sprintf("size=%dKiB/%s", size>>10, mode), func(b *testing.B) {
				switch mode {
				case "probes":
					loadProbes(b)
				case "syscalls":
					requirePrivilege(b)
					c, err := CountSyscalls(0)
					if err != nil {
						b.Fatal(err)
					}
					b.Cleanup(func() { c.Close() })
				}
				client, server := tcpPair(b)
				go io.Copy(io.Discard, server)
				buf := make([]byte, size)
				b.SetBytes(int64(size))
				b.ResetTimer()
				start := cpuTime(b)
				for range b.N {
					if _, err := client.Write(buf); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(cpuTime(b)-start)/float64(b.N), "cpu-ns/op")
			})
		}
	}
}

// cpuTime is the user plus system CPU time of the whole process.
func cpuTime(b *testing.B) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkSyscallCounterRuntime reports what the kernel itself measures
// of the syscall counter (kernel.bpf_stats_enabled): ns per invocation,
// under 1 KiB loopback writes. The socket probes have no per-call program
// to measure: see BenchmarkSockets for what reading them costs.
func BenchmarkSyscallCounterRuntime(b *testing.B) {
	sc, err := CountSyscalls(0)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { sc.Close() })
	stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		b.Skipf("kernel BPF run-time statistics unavailable: %v", err)
	}
	defer stats.Close()
	client, server := tcpPair(b)
	go io.Copy(io.Discard, server)
	buf := make([]byte, 1<<10)
	progs := map[string]*ebpf.Program{"sys_enter": sc.objs.OnSysEnter}
	before := progStats(b, progs)
	b.ResetTimer()
	for range b.N {
		if _, err := client.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	after := progStats(b, progs)
	for name, a := range after {
		if n := a.RunCount - before[name].RunCount; n > 0 {
			b.ReportMetric(float64(a.Runtime-before[name].Runtime)/float64(n), name+"-ns/call")
		}
	}
}

// BenchmarkSources measures one read of every socket's figures (what a
// scrape or /api/connections costs) from each Source, with 1000 and 10,000
// connections open (both ends in this process, loopback). cpu-ns/op is the
// process's CPU time, steadier than wall time on a shared machine; compare
// the sources at one size within one run.
func BenchmarkSources(b *testing.B) {
	for _, conns := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("sockets=%d", conns), func(b *testing.B) {
			for range conns / 2 {
				c, s := tcpPair(b)
				cookieOf(b, c) // as the server asks for each connection's
				cookieOf(b, s)
			}
			srcs := []Source{newTCPInfo(b)}
			if os.Geteuid() == 0 {
				srcs = append([]Source{loadProbes(b)}, srcs...)
			}
			for _, src := range srcs {
				b.Run(src.Name(), func(b *testing.B) {
					start := cpuTime(b)
					for range b.N {
						all, err := src.Snapshot()
						if err != nil {
							b.Fatal(err)
						}
						if len(all) < conns {
							b.Fatalf("read %d sockets, want at least %d", len(all), conns)
						}
					}
					b.ReportMetric(float64(cpuTime(b)-start)/float64(b.N), "cpu-ns/op")
				})
			}
		})
	}
}

func progStats(b *testing.B, progs map[string]*ebpf.Program) map[string]ebpf.ProgramStats {
	out := make(map[string]ebpf.ProgramStats)
	for name, p := range progs {
		s, err := p.Stats()
		if err != nil {
			b.Fatal(err)
		}
		out[name] = *s
	}
	return out
}
