// SPDX-License-Identifier: (MIT OR GPL-2.0-only)
//
// Per-socket figures for the TCP sockets of one process, keyed by socket
// cookie (the value getsockopt(SO_COOKIE) returns, which is how Go joins a
// net.Conn to its entry).
//
// Bytes are counted at the socket layer (sock:sock_send_length and
// sock:sock_recv_length fire in sock_sendmsg/sock_recvmsg for every path into
// a socket: write, writev, sendmsg, splice and io_uring alike), so they are
// exactly what the application handed to or took from the kernel.
//
// Only sockets of the process whose tgid is target_tgid get an entry: the
// send/recv tracepoints run in process context (io_uring workers and task
// work included, they belong to the same thread group), so filtering there is
// one comparison. The retransmit and state-change tracepoints run in softirq
// and timer context, where current is meaningless; they only update sockets
// that already have an entry, found through the cookie the kernel already
// assigned (they never generate cookies for foreign sockets).
//
// Retransmissions are the kernel's own tcp_sock.total_retrans (what TCP_INFO
// and ss report), copied at every send, receive and retransmission: every
// kernel increments it before tcp:tcp_retransmit_skb fires, so the copy is
// live even for a socket the application no longer writes to.

#include "common.h"

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define MSG_PEEK 2
#define TCP_CLOSE 7
#define REFRESH_NS (50 * 1000 * 1000ULL)

typedef struct {
	__s64 counter;
} atomic64_t;

struct sock_common {
	unsigned short skc_family;
	atomic64_t skc_cookie;
} __attribute__((preserve_access_index));

struct sock {
	struct sock_common __sk_common;
	__u16 sk_protocol;
} __attribute__((preserve_access_index));

struct tcp_sock {
	__u32 srtt_us; /* smoothed RTT << 3, in microseconds */
	__u32 snd_cwnd;
	__u32 write_seq;
	__u32 snd_una;
	__u32 total_retrans;
} __attribute__((preserve_access_index));

/* bpf2go generates its Go twin, sockstatsSockStats. */
struct sock_stats {
	__u64 bytes_sent;
	__u64 bytes_received;
	__u64 sends;
	__u64 receives;
	__u64 updated_ns;
	__u32 srtt_us;
	__u32 snd_cwnd;
	__u32 send_queue;
	__u32 total_retrans;
};

/* Set by the loader before the programs are verified. */
volatile const __u32 target_tgid = 0;

/* Live sockets. LRU so that a socket whose close we never see (or a process
 * opening more sockets than max_entries) cannot grow the map without bound.
 * The loader sets max_entries from Options.MaxSockets. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	/* Per-CPU LRU lists: a send on one CPU never takes another's lock. */
	__uint(map_flags, 1U << 1 /* BPF_F_NO_COMMON_LRU */);
	__type(key, __u64);
	__type(value, struct sock_stats);
} socks SEC(".maps");

/* Final figures of sockets that reached TCP_CLOSE, kept until user space
 * drains them so that per-stream counters lose no bytes sent between the
 * last scrape and the close. LRU: nobody draining must not leak. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct sock_stats);
} closed SEC(".maps");

static __always_inline int ours(void)
{
	return (bpf_get_current_pid_tgid() >> 32) == target_tgid;
}

static __always_inline int is_tcp(struct sock *sk)
{
	unsigned short family = sk->__sk_common.skc_family;

	return (family == AF_INET || family == AF_INET6) &&
	       sk->sk_protocol == IPPROTO_TCP;
}

static __always_inline struct sock_stats *entry(__u64 cookie)
{
	struct sock_stats *st = bpf_map_lookup_elem(&socks, &cookie);
	struct sock_stats zero = {};

	if (st)
		return st;
	bpf_map_update_elem(&socks, &cookie, &zero, BPF_NOEXIST);
	return bpf_map_lookup_elem(&socks, &cookie);
}

/* Copies the congestion state of the socket into its entry. Plain stores:
 * writers racing on other CPUs store equally fresh values, and user space
 * never lets total_retrans run backwards. Only the byte and call counters,
 * which are added to, need atomics. */
static __always_inline void refresh(struct sock_stats *st, struct sock *sk)
{
	struct tcp_sock *tp = bpf_skc_to_tcp_sock(sk);

	if (!tp)
		return;
	st->srtt_us = tp->srtt_us >> 3;
	st->snd_cwnd = tp->snd_cwnd;
	st->send_queue = tp->write_seq - tp->snd_una;
	st->total_retrans = tp->total_retrans;
	st->updated_ns = bpf_ktime_get_ns();
}

static __always_inline void account(__u64 *ctx, int sending)
{
	struct sock *sk = (struct sock *)ctx[0];
	int ret = (int)ctx[1];
	struct sock_stats *st;

	if (ret <= 0 || !sk || !ours() || !is_tcp(sk))
		return;
	if (!sending && ((int)ctx[2] & MSG_PEEK))
		return; /* peeked bytes will be received again */
	st = entry(bpf_get_socket_cookie(sk));
	if (!st)
		return;
	if (sending) {
		__sync_fetch_and_add(&st->bytes_sent, ret);
		__sync_fetch_and_add(&st->sends, 1);
	} else {
		__sync_fetch_and_add(&st->bytes_received, ret);
		__sync_fetch_and_add(&st->receives, 1);
	}
	/* The congestion figures are read at most every REFRESH_NS per socket
	 * on this path: a server writes to each player many times a second,
	 * and a scrape wants a recent value, not every one. Retransmissions
	 * refresh at once, so the retransmit count stays exact. */
	if (bpf_ktime_get_ns() - st->updated_ns >= REFRESH_NS)
		refresh(st, sk);
}

SEC("tp_btf/sock_send_length")
int on_send(__u64 *ctx)
{
	account(ctx, 1);
	return 0;
}

SEC("tp_btf/sock_recv_length")
int on_recv(__u64 *ctx)
{
	account(ctx, 0);
	return 0;
}

static __always_inline __u64 known_cookie(struct sock *sk)
{
	return sk ? (__u64)sk->__sk_common.skc_cookie.counter : 0;
}

SEC("tp_btf/tcp_retransmit_skb")
int on_retransmit(__u64 *ctx)
{
	struct sock *sk = (struct sock *)ctx[0];
	__u64 cookie = known_cookie(sk);
	struct sock_stats *st;

	if (!cookie)
		return 0;
	st = bpf_map_lookup_elem(&socks, &cookie);
	if (st)
		refresh(st, sk);
	return 0;
}

SEC("tp_btf/inet_sock_set_state")
int on_state(__u64 *ctx)
{
	struct sock *sk = (struct sock *)ctx[0];
	int newstate = (int)ctx[2];
	struct sock_stats *st;
	__u64 cookie;

	if (newstate != TCP_CLOSE)
		return 0;
	cookie = known_cookie(sk);
	if (!cookie)
		return 0;
	st = bpf_map_lookup_elem(&socks, &cookie);
	if (!st)
		return 0;
	bpf_map_update_elem(&closed, &cookie, st, BPF_ANY);
	bpf_map_delete_elem(&socks, &cookie);
	return 0;
}

char __license[] SEC("license") = "Dual MIT/GPL";
