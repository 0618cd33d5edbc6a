package bench

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// clockTicks is USER_HZ, the unit of /proc/PID/stat times; it is 100 on
// every Linux architecture Go supports.
const clockTicks = 100

// ProcCPU returns the CPU time, user plus system in seconds, that process
// pid (0: this process) has used, every thread's, exited ones included.
// It reads the process's CPU clock, which counts nanoseconds; /proc/PID/stat,
// the fallback, counts 10 ms ticks, and one tick over a 3 s window is
// 0.33 % of a core — what divided by 5 clients became −67 % per 1000 HLS
// viewers.
func ProcCPU(pid int) (float64, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(processCPUClock(pid), &ts); err == nil {
		return float64(ts.Nano()) / 1e9, nil
	}
	data, err := os.ReadFile(procPath(pid, "stat"))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(data)
}

// processCPUClock is the clock id of pid's CPU time, as glibc's
// clock_getcpuclockid makes it: the kernel's MAKE_PROCESS_CPUCLOCK(pid,
// CPUCLOCK_SCHED), the scheduler's exact run time of the thread group.
func processCPUClock(pid int) int32 {
	if pid == 0 {
		return unix.CLOCK_PROCESS_CPUTIME_ID
	}
	const cpuclockSched = 2
	return int32(^uint32(pid)<<3 | cpuclockSched)
}

// totalCPU is the CPU time of the processes together, in seconds; a
// process that cannot be read is left out and its error returned.
func totalCPU(pids []int) (float64, error) {
	var sum float64
	var errs []error
	for _, pid := range pids {
		cpu, err := ProcCPU(pid)
		errs = append(errs, err)
		sum += cpu
	}
	return sum, errors.Join(errs...)
}

// parseStatCPU reads utime and stime (fields 14 and 15) of a stat line. The
// command name, field 2, is in parentheses and may hold spaces and ')', so
// fields are counted from the last ')'.
func parseStatCPU(data []byte) (float64, error) {
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, fmt.Errorf("bench: /proc stat: no command name")
	}
	f := strings.Fields(string(data[i+1:]))
	// f[0] is field 3 (state), so utime (14) is f[11] and stime f[12].
	if len(f) < 13 {
		return 0, fmt.Errorf("bench: /proc stat: %d fields after the name", len(f))
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("bench: /proc stat: utime %q stime %q", f[11], f[12])
	}
	return float64(ut+st) / clockTicks, nil
}

// ProcMemory returns VmRSS and VmHWM (peak RSS) of pid in bytes, from
// /proc/PID/status.
func ProcMemory(pid int) (rss, peak uint64, err error) {
	data, err := os.ReadFile(procPath(pid, "status"))
	if err != nil {
		return 0, 0, err
	}
	return parseStatusMemory(data)
}

func parseStatusMemory(data []byte) (rss, peak uint64, err error) {
	var found int
	for line := range strings.Lines(string(data)) {
		key, val, ok := strings.Cut(line, ":")
		if !ok || (key != "VmRSS" && key != "VmHWM") {
			continue
		}
		f := strings.Fields(val)
		if len(f) != 2 || f[1] != "kB" {
			return 0, 0, fmt.Errorf("bench: /proc status: %s: %q", key, strings.TrimSpace(val))
		}
		n, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("bench: /proc status: %s: %w", key, err)
		}
		if key == "VmRSS" {
			rss = n << 10
		} else {
			peak = n << 10
		}
		found++
	}
	if found != 2 {
		return 0, 0, fmt.Errorf("bench: /proc status: no VmRSS/VmHWM")
	}
	return rss, peak, nil
}

func procPath(pid int, file string) string {
	if pid == 0 {
		return "/proc/self/" + file
	}
	return "/proc/" + strconv.Itoa(pid) + "/" + file
}

// RaiseFileLimit raises RLIMIT_NOFILE's soft limit to its hard limit, for
// thousands of sockets, and returns the limit now in force.
func RaiseFileLimit() (uint64, error) {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
			return lim.Cur, err
		}
	}
	return lim.Cur, nil
}

// CheckFileLimit raises the limit and says whether n sockets (plus some
// slack for files and the server's side when it runs under the same
// limit) fit.
func CheckFileLimit(n int) error {
	lim, err := RaiseFileLimit()
	if err != nil {
		return fmt.Errorf("bench: raising RLIMIT_NOFILE: %w", err)
	}
	if need := uint64(n) + 64; lim < need {
		return fmt.Errorf("bench: RLIMIT_NOFILE is %d, %d players need about %d: raise the hard limit (ulimit -Hn, or LimitNOFILE= in systemd)", lim, n, need)
	}
	return nil
}
