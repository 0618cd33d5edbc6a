package tuning

import (
	"slices"
	"strings"
	"testing"
)

func TestParseCPUList(t *testing.T) {
	cases := []struct {
		in   string
		want []int
		err  string
	}{
		{"0-1\n", []int{0, 1}, ""},
		{"", nil, ""},
		{"0", []int{0}, ""},
		{"0-3,8,10-11", []int{0, 1, 2, 3, 8, 10, 11}, ""},
		{" 5 , 2 ", []int{2, 5}, ""},
		{"3-1", nil, "backwards"},
		{"0-", nil, "not a CPU number"},
		{"-1", nil, "not a CPU number"},
		{"+1", nil, "not a CPU number"},
		{"1,,2", nil, "not a CPU number"},
		{"0-7:2/4", nil, "not a CPU number"},
		{"0-4000000000", nil, "not a CPU number"},
		{"8192", nil, "beyond"},
		{"8191", []int{8191}, ""},
	}
	for _, tc := range cases {
		got, err := ParseCPUList(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseCPUList(%q) err = %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got.CPUs(), tc.want) {
			t.Errorf("ParseCPUList(%q) = %v, %v; want %v", tc.in, got.CPUs(), err, tc.want)
		}
	}
}

func TestCPUMask(t *testing.T) {
	cases := []struct {
		mask string
		cpus []int
	}{
		{"0", nil},
		{"3", []int{0, 1}},
		{"f0", []int{4, 5, 6, 7}},
		{"1,00000003", []int{0, 1, 32}},
		{"80000000,00000000,00000001", []int{0, 95}},
	}
	for _, tc := range cases {
		s := NewCPUSet(tc.cpus...)
		if got := s.Mask(); got != tc.mask {
			t.Errorf("Mask(%v) = %q, want %q", tc.cpus, got, tc.mask)
		}
		back, err := ParseCPUMask(tc.mask)
		if err != nil || !back.Equal(s) {
			t.Errorf("ParseCPUMask(%q) = %v, %v; want %v", tc.mask, back.CPUs(), err, tc.cpus)
		}
	}
	// The kernel pads to nr_cpu_ids: "00000000,00000003" reads as CPUs 0-1.
	if s, err := ParseCPUMask("00000000,00000003\n"); err != nil || s.List() != "0-1" {
		t.Errorf("padded mask = %q, %v", s.List(), err)
	}
	for _, bad := range []string{"", "xyz", "123456789", "3,,1", ",", "-1"} {
		if _, err := ParseCPUMask(bad); err == nil {
			t.Errorf("ParseCPUMask(%q) accepted", bad)
		}
	}
}

func TestCPUSetOps(t *testing.T) {
	a, b := NewCPUSet(0, 1, 2, 70), NewCPUSet(2, 3, 70)
	if got := a.Intersect(b).List(); got != "2,70" {
		t.Errorf("intersect = %q", got)
	}
	if got := a.Union(b).List(); got != "0-3,70" {
		t.Errorf("union = %q", got)
	}
	if got := a.Minus(b).List(); got != "0-1" {
		t.Errorf("minus = %q", got)
	}
	if !a.Minus(a).Equal(CPUSet{}) || a.Equal(b) {
		t.Error("Equal is wrong")
	}
	if NewCPUSet(-1, MaxCPUs).Len() != 0 {
		t.Error("out-of-range CPUs were added")
	}
}

const sampleInterrupts = `           CPU0       CPU1       
 24:          1          0  IO-APIC   5-edge      ACPI:Ged
 28:          0          0 PCI-MSIX-0000:00:01.0   0-edge      virtio0-config
 38:          0       2956 PCI-MSIX-0000:00:03.0   1-edge      virtio2-input.0
 39:       2182          0 PCI-MSIX-0000:00:03.0   2-edge      virtio2-output.0
 16:          5          6   IO-APIC  16-fasteoi   ehci_hcd:usb1, i915
 77:          0          0  IR-PCI-MSI 524288-edge
NMI:          0          0   Non-maskable interrupts
LOC:      55379      58407   Local timer interrupts
ERR:          0
`

func TestParseInterrupts(t *testing.T) {
	got, err := ParseInterrupts(strings.NewReader(sampleInterrupts))
	if err != nil {
		t.Fatal(err)
	}
	want := []Interrupt{
		{24, "ACPI:Ged"}, {28, "virtio0-config"}, {38, "virtio2-input.0"},
		{39, "virtio2-output.0"}, {16, "ehci_hcd:usb1, i915"}, {77, "524288-edge"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
	for _, bad := range []string{"", "hello world\n 1: 2 x y\n"} {
		if _, err := ParseInterrupts(strings.NewReader(bad)); err == nil {
			t.Errorf("ParseInterrupts(%q) accepted", bad)
		}
	}
	long := "CPU0\n 1: " + strings.Repeat("9", maxInterruptLine+1) + "\n"
	if _, err := ParseInterrupts(strings.NewReader(long)); err == nil {
		t.Error("an over-long line was accepted")
	}
}

func TestQueueIRQs(t *testing.T) {
	cases := []struct {
		name  string
		irqs  []string
		strip []string
		want  []int // queue per kept vector, in input order
	}{
		{"virtio", []string{"virtio2-config", "virtio2-input.0", "virtio2-output.0", "virtio2-input.1"},
			[]string{"eth0", "virtio2"}, []int{0, 0, 1}},
		{"ixgbe other vector", []string{"eth0-TxRx-0", "eth0-TxRx-1", "eth0"}, []string{"eth0"}, []int{0, 1}},
		{"i40e", []string{"i40e-0000:01:00.0:misc", "i40e-eth2-TxRx-0", "i40e-eth2-TxRx-1"}, []string{"eth2"}, []int{0, 1}},
		{"mlx5", []string{"mlx5_async0@pci:0000:81:00.0", "mlx5_comp0@pci:0000:81:00.0", "mlx5_comp12@pci:0000:81:00.0"},
			[]string{"eth0", "0000:81:00.0"}, []int{0, 12}},
		{"unnumbered", []string{"nic-a", "nic-b"}, []string{"eth0"}, []int{0, 1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var in []Interrupt
			for i, n := range tc.irqs {
				in = append(in, Interrupt{IRQ: 100 + i, Name: n})
			}
			var got []int
			for _, q := range queueIRQs(in, tc.strip) {
				got = append(got, q.Queue)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("queues %v, want %v", got, tc.want)
			}
		})
	}
	if !nameHasWord("i40e-eth1-TxRx-0", "eth1") || nameHasWord("eth10-rx-0", "eth1") {
		t.Error("nameHasWord confuses eth1 and eth10")
	}
}

func TestSysctlTarget(t *testing.T) {
	cases := []struct {
		cur, want string
		dir       direction
		out, err  string
	}{
		{"4096", "8192", raise, "8192", ""},
		{"65535", "8192", raise, "", ""},
		{"4096\t16384\t4194304", "4096 65536 16777216", raise, "4096 65536 16777216", ""},
		{"8192\t16384\t33554432", "4096 65536 16777216", raise, "8192 65536 33554432", ""},
		{"32768\t60999", "10240 65535", widen, "10240 65535", ""},
		{"1024\t65535", "10240 65535", widen, "", ""},
		{"4294967295", "131072", lower, "131072", ""},
		{"16384", "131072", lower, "", ""},
		{"1 2", "8192", raise, "", "fields"},
		{"abc", "8192", raise, "", "not a numeric"},
		{"-5", "8192", raise, "", "not a numeric"},
	}
	for _, tc := range cases {
		got, err := sysctlTarget(tc.cur, tc.want, tc.dir)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("sysctlTarget(%q, %q) err = %v, want %q", tc.cur, tc.want, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.out {
			t.Errorf("sysctlTarget(%q, %q) = %q, %v; want %q", tc.cur, tc.want, got, err, tc.out)
		}
	}
}

func TestFlowCount(t *testing.T) {
	for _, tc := range []struct{ total, queues, want int }{
		{32768, 1, 32768}, {32768, 4, 8192}, {32768, 3, 16384}, {32768, 0, 32768}, {4, 64, 1},
	} {
		if got := flowCount(tc.total, tc.queues); got != tc.want {
			t.Errorf("flowCount(%d, %d) = %d, want %d", tc.total, tc.queues, got, tc.want)
		}
	}
}

func FuzzParseCPUList(f *testing.F) {
	for _, s := range []string{"0-1", "0-3,8,10-11", "", "3-1", "8191", "1,,2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		set, err := ParseCPUList(s)
		if err != nil {
			return
		}
		again, err := ParseCPUList(set.List())
		if err != nil || !again.Equal(set) {
			t.Fatalf("%q → %q does not round-trip: %v", s, set.List(), err)
		}
	})
}

func FuzzParseCPUMask(f *testing.F) {
	for _, s := range []string{"3", "f0", "1,00000003", "00000000,00000003", "", "zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		set, err := ParseCPUMask(s)
		if err != nil {
			return
		}
		again, err := ParseCPUMask(set.Mask())
		if err != nil || !again.Equal(set) {
			t.Fatalf("%q → %q does not round-trip: %v", s, set.Mask(), err)
		}
	})
}

func FuzzParseInterrupts(f *testing.F) {
	f.Add(sampleInterrupts)
	f.Add("CPU0\n 1: 2\n")
	f.Fuzz(func(t *testing.T, s string) {
		irqs, err := ParseInterrupts(strings.NewReader(s))
		if err != nil {
			return
		}
		for _, in := range irqs {
			if in.IRQ < 0 {
				t.Fatalf("negative IRQ %d", in.IRQ)
			}
			_ = queueIRQs([]Interrupt{in}, []string{"eth0"})
		}
	})
}

func FuzzSysctlTarget(f *testing.F) {
	f.Add("4096\t16384\t4194304", "4096 65536 16777216", 0)
	f.Add("32768 60999", "10240 65535", 1)
	f.Fuzz(func(t *testing.T, cur, want string, dir int) {
		d := direction(uint(dir) % 3)
		out, err := sysctlTarget(cur, want, d)
		if err != nil || out == "" {
			return
		}
		// Applying the result again must be a no-op: the plan is stable.
		if again, err := sysctlTarget(out, want, d); err != nil || again != "" {
			t.Fatalf("second pass on %q gives %q, %v", out, again, err)
		}
	})
}
