package bpf

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"
)

// DefaultMaxClosed bounds the table of closed sockets' final figures when
// Options.MaxClosed is zero: a Collector drains it every scrape, so it only
// has to hold the connections that close between two scrapes.
const DefaultMaxClosed = 16384

// Options configure Load.
type Options struct {
	// PID is the process whose TCP sockets are reported (every socket in
	// its file table, whichever thread or io_uring worker uses it). Zero
	// means the calling process.
	PID int
	// MaxClosed bounds the table holding the final figures of sockets the
	// process closed until they are read; beyond it the oldest are
	// evicted. Zero means DefaultMaxClosed.
	MaxClosed int
}

// Probes are the loaded socket-accounting programs: a socket iterator read
// on demand and a close hook. All methods are safe for concurrent use; after
// Close they report nothing. A nil *Probes is valid and reports nothing
// either, so a server that could not load them keeps one code path.
type Probes struct {
	mu     sync.RWMutex
	objs   *sockstatsObjects
	dump   *link.Iter
	state  link.Link
	closed bool
}

// Load verifies, loads and attaches the socket-accounting programs. An error
// matching ErrUnavailable means this kernel or process cannot run them; any
// other error is a bad Options value.
func Load(opts Options) (*Probes, error) {
	pid, max, err := opts.resolve()
	if err != nil {
		return nil, err
	}
	if err := checkBTF(); err != nil {
		return nil, err
	}
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, unavailable("raising RLIMIT_MEMLOCK", err)
	}
	spec, err := loadSockstats()
	if err != nil {
		return nil, fmt.Errorf("bpf: embedded object: %w", err)
	}
	if err := configure(spec, pid, max); err != nil {
		return nil, err
	}
	objs := new(sockstatsObjects)
	if err := spec.LoadAndAssign(objs, nil); err != nil {
		return nil, unavailable("loading socket programs", err)
	}
	p := &Probes{objs: objs}
	if p.dump, err = link.AttachIter(link.IterOptions{Program: objs.DumpSockets}); err != nil {
		p.Close()
		return nil, unavailable("attaching the socket iterator", err)
	}
	if p.state, err = link.AttachTracing(link.TracingOptions{Program: objs.OnState, AttachType: ebpf.AttachTraceRawTp}); err != nil {
		p.Close()
		return nil, unavailable("attaching "+objs.OnState.String(), err)
	}
	return p, nil
}

// resolve applies the defaults of Options and rejects impossible values.
func (o Options) resolve() (pid uint32, max uint32, err error) {
	switch {
	case o.PID < 0 || o.PID > 1<<22:
		return 0, 0, fmt.Errorf("bpf: Options.PID %d out of range", o.PID)
	case o.MaxClosed < 0 || o.MaxClosed > 1<<24:
		return 0, 0, fmt.Errorf("bpf: Options.MaxClosed %d out of range [0, %d]", o.MaxClosed, 1<<24)
	}
	pid, max = uint32(o.PID), uint32(o.MaxClosed)
	if pid == 0 {
		pid = uint32(os.Getpid())
	}
	if max == 0 {
		max = DefaultMaxClosed
	}
	return pid, max, nil
}

// configure writes the load-time constants into the spec.
func configure(spec *ebpf.CollectionSpec, pid, max uint32) error {
	spec.Maps[sockstatsMapClosed].MaxEntries = max
	if err := spec.Variables[sockstatsVarTargetTgid].Set(pid); err != nil {
		return fmt.Errorf("bpf: setting target_tgid: %w", err)
	}
	return nil
}

// Close detaches the programs and frees their maps. It is idempotent.
func (p *Probes) Close() error {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	var errs []error
	for _, l := range []link.Link{p.dump, p.state} {
		if l != nil {
			errs = append(errs, l.Close())
		}
	}
	errs = append(errs, p.objs.Close())
	return errors.Join(errs...)
}

// Socket returns the current figures of the open socket with this cookie;
// false if the process has no such socket open or the Probes are closed.
// Each call walks the process's file table once: for many sockets, one
// Sockets call is cheaper.
func (p *Probes) Socket(cookie uint64) (SocketStats, bool) {
	all, err := p.Snapshot()
	if err != nil {
		return SocketStats{}, false
	}
	s, ok := all[cookie]
	return s, ok
}

// Sockets returns the figures of every TCP socket the process has open,
// ordered by cookie, read from the kernel now.
func (p *Probes) Sockets() ([]SocketStats, error) {
	if p == nil {
		return nil, nil
	}
	return sortedSockets(p)
}

// errClosed is what reads of closed Probes return.
var errClosed = errors.New("bpf: probes closed")

// Name implements Source: "bpf".
func (p *Probes) Name() string { return SourceBPF }

// Snapshot implements Source: it runs the socket iterator once and returns
// its records by cookie. A socket open under two descriptors is reported
// once; one whose cookie was never asked for (Cookie assigns it) is not.
func (p *Probes) Snapshot() (map[uint64]SocketStats, error) {
	if p == nil {
		return nil, errClosed
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return nil, errClosed
	}
	rd, err := p.dump.Open()
	if err != nil {
		return nil, fmt.Errorf("bpf: opening the socket iterator: %w", err)
	}
	data, err := io.ReadAll(rd)
	rd.Close()
	if err != nil {
		return nil, fmt.Errorf("bpf: reading the socket iterator: %w", err)
	}
	return decodeRecords(data)
}

// recordSize is the size of one struct sock_stats written by the iterator.
const recordSize = int(unsafe.Sizeof(sockstatsSockStats{}))

// decodeRecords converts the iterator's output, whole records only. The
// records are in the kernel's own layout, which the generated struct
// mirrors (structs.HostLayout), so each is copied, not parsed field by field:
// a scrape of thousands of sockets stays well under a millisecond of CPU.
func decodeRecords(data []byte) (map[uint64]SocketStats, error) {
	if len(data)%recordSize != 0 {
		return nil, fmt.Errorf("bpf: socket iterator wrote %d bytes, not a whole number of %d-byte records", len(data), recordSize)
	}
	clock := newMonoToWall()
	out := make(map[uint64]SocketStats, len(data)/recordSize)
	var v sockstatsSockStats
	for off := 0; off < len(data); off += recordSize {
		copy(unsafe.Slice((*byte)(unsafe.Pointer(&v)), recordSize), data[off:])
		out[v.Cookie] = socketStats(&v, clock)
	}
	return out, nil
}

// Retired implements Source: it removes and returns the final figures of a
// socket the process closed, kept by the close hook, once.
func (p *Probes) Retired(cookie uint64) (SocketStats, bool) {
	if p == nil {
		return SocketStats{}, false
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return SocketStats{}, false
	}
	var v sockstatsSockStats
	if err := p.objs.Closed.LookupAndDelete(cookie, &v); err != nil {
		return SocketStats{}, false
	}
	return socketStats(&v, newMonoToWall()), true
}
