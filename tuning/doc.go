// Package tuning plans, applies and reverts the kernel settings a streaming
// server wants on a machine with multiqueue NICs: queue IRQ affinity, receive
// and transmit packet steering (RPS, RFS, XPS) and a handful of sysctls.
//
// The package works in three steps. Discover reads /proc and /sys (under an
// injectable root, so tests run on fake trees); MakePlan turns what was found
// into a list of Changes, each with its current value, new value and a
// one-line reason, without touching anything; Apply writes the changes and
// saves what they replaced to a state file, which Revert restores byte for
// byte. Sysctls are only moved in the direction that gives the server more
// room, so a larger setting made by an operator is never shrunk.
package tuning
