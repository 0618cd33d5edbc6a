// Package bpf measures, from the kernel's own counters, what the server's TCP
// sockets really send and receive, and counts a process's system calls.
//
// Socket figures come from a Source: the eBPF Probes where they load, else
// TCPInfo, which reads the same counters with getsockopt(TCP_INFO) on the
// process's own descriptors and needs no privilege. The Collector and the
// connection API take either, so the figures never go dark.
//
// Two independent eBPF object files are embedded (compiled from c/ by
// `go generate`, output committed):
//
//   - sockstats: an iter/task_file program that, when read, walks one
//     process's open files and reports every TCP socket's figures from the
//     kernel's own tcp_sock (bytes sent and received, segments,
//     retransmissions, srtt, cwnd, send queue), keyed by socket cookie; and
//     a tp_btf program on sock:inet_sock_set_state that keeps the final
//     figures of the sockets the process closes. Nothing runs per send or
//     receive. Kernel structs are read with CO-RE reads only, so the
//     programs load on every kernel with BTF from 5.15 on. Load attaches them and returns a *Probes; NewCollector turns
//     them into per-stream Prometheus metrics.
//   - syscalls: a raw tracepoint on raw_syscalls:sys_enter counting one
//     process's system calls by number (CountSyscalls), for benchmarks that
//     would otherwise need perf.
//
// Neither fentry/fexit nor kprobes are used: kernels in lockdown refuse the
// former and many builds lack the latter. When eBPF cannot be used at all
// (not root, no BTF, a refusing kernel) Load and CountSyscalls return an error
// matching ErrUnavailable that says why (a verifier rejection with the
// verifier's whole log), so a server logs one line and runs on.
//
// A socket is joined to its figures by its cookie: Cookie(conn) or
// CookieFD(fd) returns the same number the programs key their maps by.
package bpf
