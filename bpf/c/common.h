/* SPDX-License-Identifier: (MIT OR GPL-2.0-only) */
/*
 * The few kernel types and constants the bbllive programs need, written out
 * by hand so that compiling them needs neither a multi-megabyte vmlinux.h nor
 * the architecture-specific <asm/types.h> (clang -target bpf cannot find it).
 * Struct layouts are NOT assumed: every kernel struct below is marked
 * preserve_access_index, so libbpf-style CO-RE relocations rewrite field
 * offsets against the running kernel's BTF at load time.
 */
#ifndef BBLLIVE_COMMON_H
#define BBLLIVE_COMMON_H

typedef unsigned char __u8;
typedef signed char __s8;
typedef unsigned short __u16;
typedef signed short __s16;
typedef unsigned int __u32;
typedef signed int __s32;
typedef unsigned long long __u64;
typedef signed long long __s64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u32 __wsum;

/* enum bpf_map_type, from include/uapi/linux/bpf.h (stable ABI). */
enum {
	BPF_MAP_TYPE_PERCPU_ARRAY = 6,
	BPF_MAP_TYPE_LRU_HASH = 9,
};

/* Flags of bpf_map_update_elem (stable ABI). */
enum {
	BPF_ANY = 0,
	BPF_NOEXIST = 1,
};

#include <bpf/bpf_helpers.h>

#endif
