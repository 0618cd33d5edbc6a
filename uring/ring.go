package uring

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// MaxEntries is the largest submission queue the kernel accepts.
const MaxEntries = 32768

// Ring is one io_uring instance with its mapped queues. See the package
// documentation for which methods may be called from which goroutine.
type Ring struct {
	fd       int
	flags    uint32
	features uint32
	sq       subQueue
	cq       compQueue
	sqRing   []byte
	cqRing   []byte // aliases sqRing under FeatSingleMmap
	sqeMem   []byte
	ctr      counters
	// waitTS and waitArg live in the Ring (on the heap) so a timed wait
	// hands the kernel stable pointers without allocating per call.
	waitTS  Timespec
	waitArg geteventsArg
	brief   bool // SubmitAndWaitBrief: wait in a raw system call
}

// subQueue is the submission side. tail counts SQEs handed out by GetSQE;
// the kernel sees them once flushSQ publishes tail to *ktail.
type subQueue struct {
	khead, ktail, kflags *uint32
	mask, entries        uint32
	sqes                 []SQE
	tail                 uint32
}

// compQueue is the completion side; head mirrors *khead, which only we write.
type compQueue struct {
	khead, ktail, koverflow *uint32
	mask, entries           uint32
	cqes                    []CQE
	head                    uint32
}

// Option configures New.
type Option func(*config)

type config struct {
	cqEntries    uint32
	singleIssuer bool
	sqPoll       bool
	sqIdle       time.Duration
}

// WithCQSize asks for a completion queue of n entries instead of the
// default twice the submission queue. The kernel rounds n up to a power of
// two and clamps it to its maximum.
func WithCQSize(n uint32) Option { return func(c *config) { c.cqEntries = n } }

// WithSingleIssuer asks for IORING_SETUP_SINGLE_ISSUER|DEFER_TASKRUN, the
// cheapest completion mode: completions are run only when the owner enters
// the kernel to wait, never by interrupting it. The caller promises that
// New and every later submit, wait and registration run on one OS thread:
// call runtime.LockOSThread first and keep the goroutine locked (otherwise
// calls fail with ErrNotOwnerThread). Kernels without
// DEFER_TASKRUN fall back to COOP_TASKRUN; Ring.Flags tells which was set.
// Ignored with WithSQPoll, which the kernel does not combine with it.
func WithSingleIssuer() Option { return func(c *config) { c.singleIssuer = true } }

// WithSQPoll starts a kernel thread that polls the submission queue, so
// Submit needs no system call while the thread is awake. The thread sleeps
// after idle without work. It spins a CPU while awake: measure before using
// it on small machines. Off by default.
func WithSQPoll(idle time.Duration) Option {
	return func(c *config) { c.sqPoll, c.sqIdle = true, idle }
}

// candidates lists setup flag sets from most to least wanted; New takes the
// first the kernel accepts, so older kernels degrade instead of failing.
func (c *config) candidates() []uint32 {
	base := SetupClamp | SetupSubmitAll
	if c.cqEntries > 0 {
		base |= SetupCQSize
	}
	if c.sqPoll {
		return []uint32{base | SetupSQPoll, (base &^ SetupSubmitAll) | SetupSQPoll}
	}
	var cands []uint32
	if c.singleIssuer {
		cands = append(cands,
			base|SetupSingleIssuer|SetupDeferTaskrun|SetupTaskrunFlag,
			base|SetupSingleIssuer|SetupDeferTaskrun,
			base|SetupSingleIssuer|SetupCoopTaskrun|SetupTaskrunFlag)
	}
	return append(cands,
		base|SetupCoopTaskrun|SetupTaskrunFlag,
		base|SetupCoopTaskrun,
		base,
		base&^SetupSubmitAll)
}

// New creates a ring with a submission queue of entries slots (rounded up
// to a power of two by the kernel, at most MaxEntries). If io_uring cannot
// be used here the error matches ErrUnavailable.
func New(entries uint32, opts ...Option) (*Ring, error) {
	if entries == 0 || entries > MaxEntries {
		return nil, fmt.Errorf("uring: %d submission entries: want 1..%d", entries, MaxEntries)
	}
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	var (
		p   params
		fd  int
		err error
	)
	for _, flags := range cfg.candidates() {
		p = params{flags: flags, cqEntries: cfg.cqEntries}
		if cfg.sqPoll {
			p.sqThreadIdle = uint32(cfg.sqIdle.Milliseconds())
		}
		fd, err = sysSetup(entries, &p)
		if !errors.Is(err, unix.EINVAL) {
			break
		}
	}
	if err != nil {
		return nil, setupError(err, readDisabledSysctl)
	}
	r := &Ring{fd: fd, flags: p.flags, features: p.features}
	if err := r.mapRings(&p); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return r, nil
}

// mapRings maps the SQ ring, CQ ring (one mapping under FeatSingleMmap) and
// the SQE array, and points the queue fields into them.
func (r *Ring) mapRings(p *params) error {
	const mmapFlags = unix.MAP_SHARED | unix.MAP_POPULATE
	prot := unix.PROT_READ | unix.PROT_WRITE
	sqSize := int(p.sqOff.array) + int(p.sqEntries)*4
	cqSize := int(p.cqOff.cqes) + int(p.cqEntries)*int(unsafe.Sizeof(CQE{}))
	single := p.features&FeatSingleMmap != 0
	if single {
		sqSize = max(sqSize, cqSize)
	}
	var err error
	if r.sqRing, err = unix.Mmap(r.fd, offSQRing, sqSize, prot, mmapFlags); err != nil {
		return fmt.Errorf("uring: mmap SQ ring: %w", err)
	}
	r.cqRing = r.sqRing
	if !single {
		if r.cqRing, err = unix.Mmap(r.fd, offCQRing, cqSize, prot, mmapFlags); err != nil {
			r.unmap()
			return fmt.Errorf("uring: mmap CQ ring: %w", err)
		}
	}
	sqeSize := int(p.sqEntries) * int(unsafe.Sizeof(SQE{}))
	if r.sqeMem, err = unix.Mmap(r.fd, offSQEs, sqeSize, prot, mmapFlags); err != nil {
		r.unmap()
		return fmt.Errorf("uring: mmap SQEs: %w", err)
	}
	r.sq = subQueue{
		khead:   u32At(r.sqRing, p.sqOff.head),
		ktail:   u32At(r.sqRing, p.sqOff.tail),
		kflags:  u32At(r.sqRing, p.sqOff.flags),
		mask:    *u32At(r.sqRing, p.sqOff.ringMask),
		entries: *u32At(r.sqRing, p.sqOff.ringEntries),
		sqes:    unsafe.Slice((*SQE)(unsafe.Pointer(&r.sqeMem[0])), p.sqEntries),
	}
	r.sq.tail = atomic.LoadUint32(r.sq.ktail)
	// An identity index array lets flushSQ publish by moving the tail only.
	array := unsafe.Slice(u32At(r.sqRing, p.sqOff.array), p.sqEntries)
	for i := range array {
		array[i] = uint32(i)
	}
	r.cq = compQueue{
		khead:     u32At(r.cqRing, p.cqOff.head),
		ktail:     u32At(r.cqRing, p.cqOff.tail),
		koverflow: u32At(r.cqRing, p.cqOff.overflow),
		mask:      *u32At(r.cqRing, p.cqOff.ringMask),
		entries:   *u32At(r.cqRing, p.cqOff.ringEntries),
		cqes:      unsafe.Slice((*CQE)(unsafe.Pointer(&r.cqRing[p.cqOff.cqes])), p.cqEntries),
	}
	r.cq.head = atomic.LoadUint32(r.cq.khead)
	return nil
}

func u32At(mem []byte, off uint32) *uint32 { return (*uint32)(unsafe.Pointer(&mem[off])) }

func (r *Ring) unmap() {
	if r.sqeMem != nil {
		_ = unix.Munmap(r.sqeMem)
	}
	if r.cqRing != nil && &r.cqRing[0] != &r.sqRing[0] {
		_ = unix.Munmap(r.cqRing)
	}
	if r.sqRing != nil {
		_ = unix.Munmap(r.sqRing)
	}
	r.sqeMem, r.cqRing, r.sqRing = nil, nil, nil
}

// Close unmaps the rings and closes the ring descriptor, which cancels
// whatever is still in flight. Registered buffers and files go with it;
// BufRings must still be closed to free their memory. Closing twice is a
// no-op. The Ring must not be used afterwards.
func (r *Ring) Close() error {
	if r.fd < 0 {
		return nil
	}
	r.unmap()
	r.sq, r.cq = subQueue{}, compQueue{}
	err := unix.Close(r.fd)
	r.fd = -1
	if err != nil {
		return fmt.Errorf("uring: close: %w", err)
	}
	return nil
}

// Fd returns the ring's file descriptor.
func (r *Ring) Fd() int { return r.fd }

// Flags returns the setup flags the kernel accepted (Setup* bits).
func (r *Ring) Flags() uint32 { return r.flags }

// Features returns the kernel's feature bits (Feat* bits).
func (r *Ring) Features() uint32 { return r.features }

// SQEntries returns the submission queue size.
func (r *Ring) SQEntries() uint32 { return r.sq.entries }

// CQEntries returns the completion queue size.
func (r *Ring) CQEntries() uint32 { return r.cq.entries }
