package bpf

// The compiled objects and their Go wrappers are committed beside the C so
// that a plain `go build` needs no clang. Regenerating needs the Debian
// packages clang, llvm (for llvm-strip) and libbpf-dev (for bpf_helpers.h).

//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -cflags "-O2 -g -Wall -Werror" -go-package bpf sockstats c/sockstats.c
//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -cflags "-O2 -g -Wall -Werror" -go-package bpf syscalls c/syscalls.c
