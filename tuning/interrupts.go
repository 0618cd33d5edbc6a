package tuning

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Interrupt is one numbered line of /proc/interrupts.
type Interrupt struct {
	IRQ int
	// Name is the action name(s) the driver registered, e.g.
	// "virtio2-input.0" or "eth0-TxRx-3"; shared lines join them with ", ".
	Name string
}

// maxInterruptLine bounds one line of /proc/interrupts: 8192 CPUs of
// eleven-character counters is about 90 KiB.
const maxInterruptLine = 1 << 20

// ParseInterrupts reads /proc/interrupts. The header's CPU columns say how
// many counters precede the chip and action names; lines for architecture
// counters (NMI, LOC, …) are skipped because they have no IRQ number.
func ParseInterrupts(r io.Reader) ([]Interrupt, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxInterruptLine)
	if !sc.Scan() {
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("/proc/interrupts: %w", err)
		}
		return nil, fmt.Errorf("/proc/interrupts: empty")
	}
	ncpu := 0
	for _, f := range strings.Fields(sc.Text()) {
		if !strings.HasPrefix(f, "CPU") {
			return nil, fmt.Errorf("/proc/interrupts: header %q is not a list of CPUs", clip(sc.Text()))
		}
		ncpu++
	}
	var out []Interrupt
	for sc.Scan() {
		if in, ok := parseInterruptLine(sc.Text(), ncpu); ok {
			out = append(out, in)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("/proc/interrupts: %w", err)
	}
	return out, nil
}

func parseInterruptLine(line string, ncpu int) (Interrupt, bool) {
	f := strings.Fields(line)
	if len(f) == 0 {
		return Interrupt{}, false
	}
	label, ok := strings.CutSuffix(f[0], ":")
	if !ok || !isDigits(label) || len(label) > 9 {
		return Interrupt{}, false
	}
	irq, _ := strconv.Atoi(label)
	rest := f[1:]
	// Counters are numeric; stop early where a line has fewer of them than
	// the header has CPUs (some architectures print short lines).
	n := 0
	for n < ncpu && n < len(rest) && isDigits(rest[n]) {
		n++
	}
	rest = rest[n:]
	return Interrupt{IRQ: irq, Name: actionName(rest)}, true
}

// actionName takes the trailing action names after the chip name and the
// hardware IRQ/trigger columns, whose number varies by architecture; action
// names never contain blanks, and several on one line are joined by ", ".
func actionName(rest []string) string {
	if len(rest) < 2 {
		return ""
	}
	i := len(rest) - 1
	for i > 1 && strings.HasSuffix(rest[i-1], ",") {
		i--
	}
	return strings.Join(rest[i:], " ")
}
