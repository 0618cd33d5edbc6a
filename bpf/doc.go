// Package bpf measures, from inside the kernel, what the server's TCP sockets
// really send and receive, and counts a process's system calls.
//
// Two independent eBPF object files are embedded (compiled from c/ by
// `go generate`, output committed):
//
//   - sockstats: tp_btf programs on sock:sock_send_length and
//     sock:sock_recv_length count the bytes and calls of every TCP socket of
//     one process, keyed by socket cookie, with a copy of the kernel's
//     srtt, cwnd, send queue and retransmitted-segment count, which
//     tcp:tcp_retransmit_skb refreshes too; sock:inet_sock_set_state moves an entry out
//     of the live table when its socket reaches TCP_CLOSE. Load attaches
//     them and returns a *Probes; NewCollector turns them into per-stream
//     Prometheus metrics.
//   - syscalls: a raw tracepoint on raw_syscalls:sys_enter counting one
//     process's system calls by number (CountSyscalls), for benchmarks that
//     would otherwise need perf.
//
// Neither fentry/fexit nor kprobes are used: kernels in lockdown refuse the
// former and many builds lack the latter. When eBPF cannot be used at all
// (not root, no BTF, a refusing kernel) Load and CountSyscalls return an error
// matching ErrUnavailable that says why, so a server logs one line and runs on.
//
// A socket is joined to its figures by its cookie: Cookie(conn) or
// CookieFD(fd) returns the same number the programs key their maps by.
package bpf
