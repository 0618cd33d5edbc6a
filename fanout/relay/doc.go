// Package relay is what lets bbllive grow past one box: an edge pulls each
// stream from the origin that owns it, and a publish that reaches an edge is
// forwarded there too.
//
// Ownership needs no coordination service: every edge ranks the origins of
// a stream by rendezvous (highest-random-weight) hashing of the stream key,
// so all edges agree on the owner, and the next in the ranking is the
// failover. An origin list entry may be a DNS name that resolves to several
// addresses (a Kubernetes headless Service, DNS round-robin); it is
// re-resolved periodically and each address is an origin, so the hashing
// moves only the streams of the origins that came or went.
package relay
