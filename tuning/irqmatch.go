package tuning

import (
	"sort"
	"strconv"
	"strings"
)

// deviceIRQs picks the interrupts of one NIC: the device's MSI vectors where
// sysfs lists them, otherwise the lines of /proc/interrupts that carry the
// interface name (drivers name vectors "eth0-TxRx-3", "i40e-eth0-TxRx-3").
func deviceIRQs(all []Interrupt, msi map[int]bool, ifname string) []Interrupt {
	var out []Interrupt
	for _, in := range all {
		if msi != nil {
			if msi[in.IRQ] {
				out = append(out, in)
			}
			continue
		}
		if nameHasWord(in.Name, ifname) {
			out = append(out, in)
		}
	}
	return out
}

// nameHasWord reports whether word occurs in name not glued to more letters
// or digits, so that "eth1" does not match "eth10-TxRx-0".
func nameHasWord(name, word string) bool {
	for i := 0; ; {
		j := strings.Index(name[i:], word)
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(word)
		if (start == 0 || !isAlnum(name[start-1])) && (end == len(name) || !isAlnum(name[end])) {
			return true
		}
		i = start + 1
	}
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// controlWords mark vectors that serve no queue: virtio's config change,
// Intel's mailbox and link-state ("lsc") vectors, async events, admin
// queues, firmware channels.
var controlWords = map[string]bool{
	"config": true, "ctrl": true, "control": true, "async": true, "misc": true,
	"event": true, "mbx": true, "mailbox": true, "lsc": true, "err": true,
	"error": true, "adminq": true, "aq": true, "fw": true, "link": true,
	"mgmnt": true, "mgmt": true, "other": true, "cmd": true,
}

// queueIRQs keeps the queue vectors of a device and gives each its queue
// index: the last number in the vector's name once the interface and device
// names (which carry digits of their own, "eth0", "virtio2") are removed and
// an "@pci:…" suffix is cut. When no vector carries a number, they serve the
// queues in IRQ order.
func queueIRQs(irqs []Interrupt, strip []string) []QueueIRQ {
	var numbered, plain []QueueIRQ
	for _, in := range irqs {
		if isControl(in.Name) {
			continue
		}
		q := QueueIRQ{IRQ: in.IRQ, Name: in.Name, Queue: queueNumber(in.Name, strip)}
		if q.Queue >= 0 {
			numbered = append(numbered, q)
		} else {
			plain = append(plain, q)
		}
	}
	if len(numbered) > 0 {
		// Unnumbered vectors beside numbered ones are the device's
		// "other" vector (ixgbe names it just "eth0"): not a queue.
		return numbered
	}
	sort.Slice(plain, func(i, j int) bool { return plain[i].IRQ < plain[j].IRQ })
	for i := range plain {
		plain[i].Queue = i
	}
	return plain
}

func isControl(name string) bool {
	words := strings.FieldsFunc(strings.ToLower(name), func(r rune) bool {
		return !(r >= 'a' && r <= 'z')
	})
	for _, w := range words {
		if controlWords[w] {
			return true
		}
	}
	return false
}

func queueNumber(name string, strip []string) int {
	name, _, _ = strings.Cut(name, "@")
	for _, s := range strip {
		if s != "" {
			name = strings.ReplaceAll(name, s, "")
		}
	}
	end := len(name)
	for end > 0 && !isDigit(name[end-1]) {
		end--
	}
	start := end
	for start > 0 && isDigit(name[start-1]) {
		start--
	}
	if start == end || end-start > 6 {
		return -1
	}
	n, _ := strconv.Atoi(name[start:end])
	return n
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
