// SPDX-License-Identifier: (MIT OR GPL-2.0-only)
//
// Per-socket figures for the TCP sockets of one process, keyed by socket
// cookie (the value getsockopt(SO_COOKIE) returns, which is how Go joins a
// net.Conn to its entry).
//
// Nothing here runs on the data path. The kernel already keeps exact
// per-socket counters in tcp_sock (bytes_sent, bytes_retrans,
// bytes_received, the sequence numbers, data segments, total_retrans, srtt,
// cwnd); a program on every send or receive only repeats that work, and
// measured here it cost 0.3-0.4 us per call, most of it a cache miss on its
// own map entry. Instead:
//
//  - dump_sockets, an iter/task_file program, walks the open files of the
//    process whose tgid is target_tgid when user space reads the iterator,
//    and writes one struct sock_stats per TCP socket. Filtering by the
//    process's file table is exact: io_uring workers share it, and a socket
//    the process has closed is gone from it.
//  - on_state, on sock:inet_sock_set_state, keeps the final figures of a
//    socket the process closes: tcp_close() changes the state in the
//    closing task's context (close(2), io_uring's close and the last fput
//    alike), so current tells whose socket it is; a state change in another
//    context (a peer's reset, processed in the peer's softirq) is ours if
//    dump_sockets has reported the socket before (the seen table). The
//    closed table holds them until user space drains it, so per-stream
//    counters lose nothing sent between the last read and the close.
//
// Figures are derived so that they mean what the application handed to and
// took from the kernel, exactly, SYN and FIN excluded:
//   sent     = bytes_sent - bytes_retrans      (payload transmitted once)
//            + write_seq - snd_nxt             (queued, not transmitted yet)
//   received = bytes_received                  (payload arrived, in order)
//            - (rcv_nxt - copied_seq)          (not read yet)
// The fields are read without the socket lock, in an order where a
// concurrent update can only make a figure lag, never run ahead (each
// counter before the sequence number the kernel moves after it); user space
// keeps the maximum it has seen.
//
// Access pattern: only the programs' own context (the iterator's task and
// file, the tracepoint's sock) is used as a pointer; every kernel struct
// reached from it is read with BPF_CORE_READ (bpf_probe_read_kernel at a
// CO-RE-relocated offset), which every verifier with BTF accepts from 5.11
// on. Passing a walked pointer to a helper (bpf_skc_to_tcp_sock(sock->sk))
// depended on one verifier's leniency and broke on 6.18.x. An iter/tcp
// program, whose sock_common is trusted, was measured too and not taken: it
// walks every TCP socket of the network namespace (other processes' too,
// and not the server's sockets in other namespaces), so it cost more per
// read on a busy machine (docs/bpf.md).

#include "common.h"
#include <bpf/bpf_core_read.h>

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define SOCK_STREAM 1

/* enum of include/net/tcp_states.h (stable since Linux 2.x) */
#define TCP_FIN_WAIT1 4
#define TCP_FIN_WAIT2 5
#define TCP_TIME_WAIT 6
#define TCP_CLOSE 7
#define TCP_CLOSE_WAIT 8
#define TCP_LAST_ACK 9
#define TCP_CLOSING 11

typedef struct {
	__s64 counter;
} atomic64_t;

struct sock_common {
	unsigned short skc_family;
	volatile unsigned char skc_state;
	atomic64_t skc_cookie;
} __attribute__((preserve_access_index));

struct sock {
	struct sock_common __sk_common;
	__u16 sk_type;
	__u16 sk_protocol;
} __attribute__((preserve_access_index));

struct socket {
	struct sock *sk;
} __attribute__((preserve_access_index));

struct file;

struct task_struct {
	int tgid;
} __attribute__((preserve_access_index));

struct seq_file;

struct bpf_iter_meta {
	struct seq_file *seq;
} __attribute__((preserve_access_index));

struct bpf_iter__task_file {
	struct bpf_iter_meta *meta;
	struct task_struct *task;
	__u32 fd;
	struct file *file;
} __attribute__((preserve_access_index));

struct tcp_sock {
	__u64 bytes_sent;
	__u64 bytes_retrans;
	__u64 bytes_received;
	__u32 write_seq;
	__u32 snd_nxt;
	__u32 snd_una;
	__u32 rcv_nxt;
	__u32 copied_seq;
	__u32 data_segs_out;
	__u32 data_segs_in;
	__u32 srtt_us; /* smoothed RTT << 3, in microseconds */
	__u32 snd_cwnd;
	__u32 total_retrans;
} __attribute__((preserve_access_index));

/* bpf2go generates its Go twin, sockstatsSockStats. */
struct sock_stats {
	__u64 cookie;
	__u64 bytes_sent;
	__u64 bytes_received;
	__u64 segs_out;
	__u64 segs_in;
	__u64 read_ns;
	__u32 srtt_us;
	__u32 snd_cwnd;
	__u32 send_queue;
	__u32 total_retrans;
	__u32 state;
	__u32 _pad;
};

/* Set by the loader before the programs are verified. */
volatile const __u32 target_tgid = 0;

/* Final figures of the process's closed sockets, kept until user space
 * drains them. LRU: nobody draining must not leak. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct sock_stats);
} closed SEC(".maps");

/* Cookies of the process's sockets that dump_sockets has reported, so that
 * on_state knows them when the state change runs in another task's context:
 * a reset from a peer in another process moves our socket to CLOSE in that
 * process's softirq, and our later close(2) changes no state. LRU: sockets
 * closed without passing through on_state age out. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 32768);
	__type(key, __u64);
	__type(value, __u8);
} seen SEC(".maps");

/* Whether sk is a tcp_sock (what bpf_skc_to_tcp_sock checks): a raw
 * socket of protocol TCP is not. */
static __always_inline int is_tcp(struct sock *sk)
{
	unsigned short family = BPF_CORE_READ(sk, __sk_common.skc_family);

	return (family == AF_INET || family == AF_INET6) &&
	       BPF_CORE_READ(sk, sk_type) == SOCK_STREAM &&
	       BPF_CORE_READ(sk, sk_protocol) == IPPROTO_TCP;
}

/* A FIN we queued is counted in write_seq until it is transmitted. */
static __always_inline int fin_queued(int state)
{
	return state == TCP_FIN_WAIT1 || state == TCP_CLOSING ||
	       state == TCP_LAST_ACK;
}

/* The peer's FIN is counted in bytes_received and rcv_nxt. */
static __always_inline int fin_received(int state)
{
	return state == TCP_CLOSE_WAIT || state == TCP_LAST_ACK ||
	       state == TCP_CLOSING || state == TCP_TIME_WAIT;
}

/* Fills st from the socket as it was in state (the state before the
 * transition, for on_state: the FIN of a close is queued after it).
 *
 * Every field is read with bpf_probe_read_kernel at its CO-RE-relocated
 * offset (BPF_CORE_READ), never by dereferencing: the verifier accepts that
 * from any pointer, trusted or not, on every kernel with BTF, whereas which
 * pointers it trusts for direct loads and for helpers such as
 * bpf_skc_to_tcp_sock changes between releases (6.18.x stopped trusting
 * socket->sk). A tcp_sock begins with its struct sock, so sk is tp. */
static __always_inline void fill(struct sock_stats *st, struct sock *sk, int state)
{
	struct tcp_sock *tp = (struct tcp_sock *)sk;
	__u64 sent = BPF_CORE_READ(tp, bytes_sent);
	__u64 retrans = BPF_CORE_READ(tp, bytes_retrans);
	__u32 snd_nxt = BPF_CORE_READ(tp, snd_nxt);
	__u32 write_seq = BPF_CORE_READ(tp, write_seq);
	__u32 copied = BPF_CORE_READ(tp, copied_seq);
	__u64 received = BPF_CORE_READ(tp, bytes_received);
	__u32 rcv_nxt = BPF_CORE_READ(tp, rcv_nxt);
	__u32 unsent = write_seq - snd_nxt;
	__u32 unread = rcv_nxt - copied;

	if (unsent && fin_queued(state))
		unsent--;
	if (!unread && received && fin_received(state))
		received--;
	st->cookie = BPF_CORE_READ(sk, __sk_common.skc_cookie.counter);
	st->bytes_sent = sent - retrans + unsent;
	st->bytes_received = received - unread;
	st->segs_out = BPF_CORE_READ(tp, data_segs_out);
	st->segs_in = BPF_CORE_READ(tp, data_segs_in);
	st->srtt_us = BPF_CORE_READ(tp, srtt_us) >> 3;
	st->snd_cwnd = BPF_CORE_READ(tp, snd_cwnd);
	st->send_queue = write_seq - BPF_CORE_READ(tp, snd_una);
	st->total_retrans = BPF_CORE_READ(tp, total_retrans);
	st->state = state;
	st->read_ns = bpf_ktime_get_ns();
}

SEC("iter/task_file")
int dump_sockets(struct bpf_iter__task_file *ctx)
{
	struct task_struct *task = ctx->task;
	struct file *file = ctx->file;
	struct sock_stats st = {};
	struct socket *sock;
	struct sock *sk;

	if (!task || !file || task->tgid != target_tgid)
		return 0;
	sock = bpf_sock_from_file(file);
	if (!sock)
		return 0;
	sk = BPF_CORE_READ(sock, sk); /* untrusted on 6.18: read, never passed on */
	if (!sk || !is_tcp(sk))
		return 0;
	fill(&st, sk, BPF_CORE_READ(sk, __sk_common.skc_state));
	if (!st.cookie) /* never asked for by SO_COOKIE: nobody can look it up */
		return 0;
	if (!bpf_map_lookup_elem(&seen, &st.cookie)) {
		__u8 one = 1;

		bpf_map_update_elem(&seen, &st.cookie, &one, BPF_NOEXIST);
	}
	bpf_seq_write(ctx->meta->seq, &st, sizeof(st));
	return 0;
}

static __always_inline int ours(void)
{
	return (bpf_get_current_pid_tgid() >> 32) == target_tgid;
}

static __always_inline int closing(int state)
{
	return state == TCP_FIN_WAIT1 || state == TCP_FIN_WAIT2 ||
	       state == TCP_CLOSING || state == TCP_LAST_ACK ||
	       state == TCP_TIME_WAIT || state == TCP_CLOSE;
}

SEC("tp_btf/inet_sock_set_state")
int on_state(__u64 *ctx)
{
	struct sock *sk = (struct sock *)ctx[0];
	int oldstate = (int)ctx[1];
	int newstate = (int)ctx[2];
	struct sock_stats st = {};

	if (!closing(newstate) || !sk || !is_tcp(sk))
		return 0;
	fill(&st, sk, oldstate);
	if (!st.cookie)
		return 0; /* never read by anyone: nobody will ask for it */
	if (!ours() && !bpf_map_lookup_elem(&seen, &st.cookie))
		return 0;
	st.state = newstate;
	bpf_map_update_elem(&closed, &st.cookie, &st, BPF_ANY);
	if (newstate == TCP_CLOSE)
		bpf_map_delete_elem(&seen, &st.cookie);
	return 0;
}

char __license[] SEC("license") = "Dual MIT/GPL";
