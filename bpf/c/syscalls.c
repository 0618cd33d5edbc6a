// SPDX-License-Identifier: (MIT OR GPL-2.0-only)
//
// Counts the system calls of one process (every thread of thread group
// target_tgid), per syscall number. A raw tracepoint needs no BTF, so the
// counter works on kernels where the socket programs cannot load.

#include "common.h"

/* Must match syscallSlots in syscalls.go; the last slot collects numbers
 * beyond the table (and the -1 of a syscall the kernel could not decode). */
#define SLOTS 1024

struct bpf_raw_tracepoint_args {
	__u64 args[0];
};

volatile const __u32 target_tgid = 0;

/* Per-CPU: a busy multi-threaded process must not bounce one cache line
 * between cores on every syscall. User space sums the CPUs. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

SEC("raw_tracepoint/sys_enter")
int on_sys_enter(struct bpf_raw_tracepoint_args *ctx)
{
	long nr = (long)ctx->args[1];
	__u32 slot;
	__u64 *n;

	if ((bpf_get_current_pid_tgid() >> 32) != target_tgid)
		return 0;
	slot = (nr < 0 || nr >= SLOTS - 1) ? SLOTS - 1 : (__u32)nr;
	n = bpf_map_lookup_elem(&counts, &slot);
	if (n)
		*n += 1;
	return 0;
}

char __license[] SEC("license") = "Dual MIT/GPL";
