// Package uring is a small io_uring binding over golang.org/x/sys/unix.
//
// It maps the submission and completion rings of one io_uring instance,
// prepares the handful of operations a streaming server needs (RECV with
// provided buffers, WRITEV, WRITE_FIXED, SEND, SEND_ZC, READ, cancel, close,
// timeouts, NOP), registers buffers, files and provided-buffer rings, and
// reaps completions without allocating.
//
// # Ownership
//
// A Ring belongs to one goroutine: GetSQE, the Submit family and the CQE
// readers are not safe for concurrent use. Stats and Eventfd.Signal may be
// called from any goroutine, which is how other goroutines wake a ring's
// owner.
//
// Rings built WithSingleIssuer additionally require that every submission,
// wait and registration happen on the OS thread that created the ring: call
// runtime.LockOSThread before New and keep the goroutine locked for the
// ring's life. From another thread the kernel answers EEXIST, which this
// package reports as ErrNotOwnerThread.
//
// # Memory handed to the kernel
//
// The kernel reads and writes user memory named by an SQE (buffers, iovec
// arrays, timespecs) after the Prep call returns: a buffer must stay
// reachable and unchanged (for sends) or unread (for receives) until its
// completion arrives. Prep methods force the memory they are given onto the
// heap so the Go runtime never moves it, but keeping it reachable is the
// caller's job. SEND_ZC buffers must stay unchanged until the notification
// CQE (CQE.Notif) arrives, not just the first completion.
//
// # Non-blocking descriptors
//
// On some older kernels file-style operations (READ, WRITE, WRITEV,
// WRITE_FIXED) honour O_NONBLOCK and complete with EAGAIN instead of waiting
// for readiness; the 6.18 kernel measured here waits either way. Descriptors
// from Go's net package are non-blocking: clear the flag with
// unix.SetNonblock(fd, false) before handing them to a ring to be portable
// (and stop using the net.Conn for I/O), or use SEND/RECV, which always wait.
//
// # Errors
//
// A completion's result is CQE.Res; CQE.Err turns a negative result into a
// syscall.Errno. When io_uring cannot be used at all, New and Available
// return an error for which errors.Is(err, ErrUnavailable) holds and whose
// text says why in plain words.
package uring
