package uring

import "unsafe"

// probeOp mirrors struct io_uring_probe_op.
type probeOp struct {
	op    uint8
	resv  uint8
	flags uint16
	resv2 uint32
}

// probeHeader mirrors struct io_uring_probe without its flexible array.
type probeHeader struct {
	lastOp uint8
	opsLen uint8
	resv   uint16
	resv2  [3]uint32
}

// probeBuf is the header followed by room for every possible opcode.
type probeBuf struct {
	hdr probeHeader
	ops [256]probeOp
}

const opSupported = 1 << 0

// Probe is the kernel's list of supported opcodes.
type Probe struct {
	lastOp    Op
	supported [256]bool
}

// Probe asks the kernel which opcodes this ring supports.
func (r *Ring) Probe() (*Probe, error) {
	var buf probeBuf
	if _, err := r.register("probe", regProbe, unsafe.Pointer(&buf), uint32(len(buf.ops))); err != nil {
		return nil, err
	}
	p := &Probe{lastOp: Op(buf.hdr.lastOp)}
	for _, o := range buf.ops[:buf.hdr.opsLen] {
		if o.flags&opSupported != 0 {
			p.supported[o.op] = true
		}
	}
	return p, nil
}

// Supported reports whether the kernel implements op.
func (p *Probe) Supported(op Op) bool { return p.supported[op] }

// LastOp returns the highest opcode the kernel knows.
func (p *Probe) LastOp() Op { return p.lastOp }

// ProbeOps opens a small ring just to probe it; for start-up checks.
func ProbeOps() (*Probe, error) {
	r, err := New(2)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return r.Probe()
}
