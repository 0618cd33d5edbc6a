package access

import "crypto/subtle"

// SameCredentials reports whether incoming, a publish of a name that is
// live, presents the credentials of current, its publisher: the policy of
// -publish-takeover. An encoder on a flaky link reconnects with the URL it
// was configured with while the server still holds its old, half-open
// connection; it must get its stream back without waiting for the stale
// publisher's timeout. Anyone else — another token, another stream key,
// even one the server admits — must not take a live stream away from it.
//
// Credentials are the query the client sent with the stream, where its
// token or key is (compared in constant time). When neither sent one (a
// server without tokens, keys or hooks), there is nothing to compare but
// the client's address: the same IP address takes over, another does not.
func SameCredentials(current, incoming Request) bool {
	if current.Query != "" || incoming.Query != "" {
		return subtle.ConstantTimeCompare([]byte(current.Query), []byte(incoming.Query)) == 1
	}
	cur, in := current.addr(), incoming.addr()
	return cur.IsValid() && cur == in
}
