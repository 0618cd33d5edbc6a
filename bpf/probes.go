package bpf

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"
)

// DefaultMaxSockets bounds the live socket table when Options.MaxSockets is
// zero: 64 Ki entries of 64 bytes, about 5 MiB of kernel memory with the
// hash table's overhead, enough for the 30,000 players of the original
// server with room for churn.
const DefaultMaxSockets = 65536

// Options configure Load.
type Options struct {
	// PID is the process whose TCP sockets are counted (all its threads,
	// io_uring workers included). Zero means the calling process.
	PID int
	// MaxSockets bounds the live socket table; beyond it the least
	// recently updated entries are evicted. Zero means DefaultMaxSockets.
	MaxSockets int
}

// Probes are the attached socket-accounting programs and their maps. All
// methods are safe for concurrent use; after Close they report nothing. A
// nil *Probes is valid and reports nothing either, so a server that could
// not load them keeps one code path.
type Probes struct {
	mu     sync.RWMutex
	objs   *sockstatsObjects
	links  []link.Link
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
	for _, prog := range []*ebpf.Program{objs.OnSend, objs.OnRecv, objs.OnRetransmit, objs.OnState} {
		l, err := link.AttachTracing(link.TracingOptions{Program: prog, AttachType: ebpf.AttachTraceRawTp})
		if err != nil {
			p.Close()
			return nil, unavailable("attaching "+prog.String(), err)
		}
		p.links = append(p.links, l)
	}
	return p, nil
}

// resolve applies the defaults of Options and rejects impossible values.
func (o Options) resolve() (pid uint32, max uint32, err error) {
	switch {
	case o.PID < 0 || o.PID > 1<<22:
		return 0, 0, fmt.Errorf("bpf: Options.PID %d out of range", o.PID)
	case o.MaxSockets < 0 || o.MaxSockets > 1<<24:
		return 0, 0, fmt.Errorf("bpf: Options.MaxSockets %d out of range [0, %d]", o.MaxSockets, 1<<24)
	}
	pid, max = uint32(o.PID), uint32(o.MaxSockets)
	if pid == 0 {
		pid = uint32(os.Getpid())
	}
	if max == 0 {
		max = DefaultMaxSockets
	}
	return pid, max, nil
}

// configure writes the load-time constants into the spec.
func configure(spec *ebpf.CollectionSpec, pid, max uint32) error {
	spec.Maps[sockstatsMapSocks].MaxEntries = max
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
	for _, l := range p.links {
		errs = append(errs, l.Close())
	}
	errs = append(errs, p.objs.Close())
	return errors.Join(errs...)
}

// Socket returns the live figures of the socket with this cookie; false if
// the socket has had no traffic yet, was closed, forgotten, or the Probes
// are closed.
func (p *Probes) Socket(cookie uint64) (SocketStats, bool) {
	return p.read(cookie, func(o *sockstatsObjects, v *sockstatsSockStats) error { return o.Socks.Lookup(cookie, v) })
}

// read runs one map read for cookie under the Probes' lock, and converts
// what it found.
func (p *Probes) read(cookie uint64, get func(*sockstatsObjects, *sockstatsSockStats) error) (SocketStats, bool) {
	if p == nil {
		return SocketStats{}, false
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return SocketStats{}, false
	}
	var v sockstatsSockStats
	if err := get(p.objs, &v); err != nil {
		return SocketStats{}, false
	}
	return socketStats(cookie, &v), true
}

// Sockets returns the figures of every live socket, ordered by cookie: the
// per-connection snapshot behind an /api/connections endpoint when the
// caller has no list of cookies of its own. It walks the whole table, so
// prefer Socket for a known set.
func (p *Probes) Sockets() ([]SocketStats, error) {
	if p == nil {
		return nil, nil
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return nil, errors.New("bpf: probes closed")
	}
	var (
		out    []SocketStats
		cookie uint64
		v      sockstatsSockStats
	)
	it := p.objs.Socks.Iterate()
	for it.Next(&cookie, &v) {
		out = append(out, socketStats(cookie, &v))
	}
	if err := it.Err(); err != nil {
		return out, fmt.Errorf("bpf: walking socket table: %w", err)
	}
	slices.SortFunc(out, func(a, b SocketStats) int { return cmp.Compare(a.Cookie, b.Cookie) })
	return out, nil
}

// Forget retires the socket with this cookie from the live table, as the
// kernel does by itself when a socket reaches TCP_CLOSE. Call it after
// closing a connection so its entry goes at once rather than when TCP's
// closing handshake ends; its final figures stay with the closed sockets
// for a Collector's next scrape, so per-stream counters lose nothing.
// Forgetting an unknown cookie does nothing.
func (p *Probes) Forget(cookie uint64) {
	if p == nil {
		return
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return
	}
	var v sockstatsSockStats
	if err := p.objs.Socks.LookupAndDelete(cookie, &v); err != nil {
		return
	}
	_ = p.objs.Closed.Put(cookie, &v)
}

// retired removes and returns the final figures of a closed or forgotten
// socket, once.
func (p *Probes) retired(cookie uint64) (SocketStats, bool) {
	return p.read(cookie, func(o *sockstatsObjects, v *sockstatsSockStats) error { return o.Closed.LookupAndDelete(cookie, v) })
}
