package bench

import (
	"os"
	"strings"
	"testing"
)

func TestParseStatCPU(t *testing.T) {
	tests := []struct {
		line string
		want float64
		err  bool
	}{
		{"1234 (bbllive) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 8 0 100 0 0", 3.25, false},
		{"1234 (a) b) c) R 1 1 1 0 -1 0 0 0 0 0 1 2 0 0 20 0 1 0 1 0 0", 0.03, false},
		{"1234 bbllive S 1", 0, true},
		{"1234 (x) S 1 2 3", 0, true},
		{"1234 (x) S 1 1234 1234 0 -1 4194560 100 0 0 0 u s 0", 0, true},
	}
	for _, tt := range tests {
		got, err := parseStatCPU([]byte(tt.line))
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("%q: %v %v, want %v err=%v", tt.line, got, err, tt.want, tt.err)
		}
	}
	if cpu, err := ProcCPU(0); err != nil || cpu < 0 {
		t.Errorf("ProcCPU(self) = %v, %v", cpu, err)
	}
}

// TestProcCPUClock checks that another process's CPU clock is read, not
// this one's, that it agrees with /proc/PID/stat's ticks, and that it
// resolves less than a tick.
func TestProcCPUClock(t *testing.T) {
	pid := os.Getpid()
	a, err := ProcCPU(pid)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(procPath(pid, "stat"))
	if err != nil {
		t.Fatal(err)
	}
	ticks, err := parseStatCPU(data)
	if err != nil {
		t.Fatal(err)
	}
	if d := a - ticks; d < -0.05 || d > 0.05 {
		t.Errorf("CPU clock %.3f s, /proc stat %.3f s", a, ticks)
	}
	// 2 ms of work moves the clock by about that: ticks would show 0 or 10 ms.
	start, _ := ProcCPU(0)
	for end := start; end-start < 0.002; end, _ = ProcCPU(0) {
	}
	b, err := ProcCPU(pid)
	if err != nil || b-a < 0.002 || b-a > 0.009 {
		t.Errorf("2 ms of work moved the clock by %.6f s (%v)", b-a, err)
	}
	if _, err := ProcCPU(1<<22 + 1); err == nil { // above the largest pid_max
		t.Error("no error for a process that does not exist")
	}
}

func TestParseStatusMemory(t *testing.T) {
	status := "Name:\tbbllive\nVmHWM:\t  20480 kB\nVmRSS:\t  10240 kB\nThreads:\t8\n"
	rss, peak, err := parseStatusMemory([]byte(status))
	if err != nil || rss != 10<<20 || peak != 20<<20 {
		t.Errorf("rss %d peak %d err %v", rss, peak, err)
	}
	for _, bad := range []string{"Name:\tx\n", "VmRSS:\t12 MB\nVmHWM:\t1 kB\n", "VmRSS:\tx kB\nVmHWM:\t1 kB\n"} {
		if _, _, err := parseStatusMemory([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	if rss, _, err := ProcMemory(os.Getpid()); err != nil || rss == 0 {
		t.Errorf("ProcMemory(self) = %d, %v", rss, err)
	}
}

func TestParsePerfCSV(t *testing.T) {
	out := `12345,,raw_syscalls:sys_enter,20001234,100.00,,
<not counted>,,syscalls:sys_enter_io_uring_enter,0,100.00,,
678,,syscalls:sys_enter_writev,20001234,100.00,,
9,,syscalls:sys_enter_write,20001234,100.00,,
0,,syscalls:sys_enter_sendmsg,20001234,100.00,,
`
	f, err := parsePerfCSV(out)
	if err != nil || !f.Counted || f.Total != 12345 || f.IOUringEnter != 0 || f.Writev != 678 || f.Write != 9 || f.Method != "perf" {
		t.Errorf("%+v %v", f, err)
	}
	if _, err := parsePerfCSV("event syntax error: 'raw_syscalls:nope'\n"); err == nil || !strings.Contains(err.Error(), "raw_syscalls") {
		t.Errorf("garbage: %v", err)
	}
}

func TestRaiseFileLimit(t *testing.T) {
	lim, err := RaiseFileLimit()
	if err != nil || lim < 64 {
		t.Fatalf("limit %d, %v", lim, err)
	}
	if err := CheckFileLimit(int(lim)); err == nil || !strings.Contains(err.Error(), "RLIMIT_NOFILE") {
		t.Errorf("CheckFileLimit over the limit: %v", err)
	}
}
