package fanout

// Transport writes wire-log ranges to players. The netpoll transport here
// and the io_uring one plug in behind the same three calls.
type Transport interface {
	// Name is how logs and metrics call the transport ("netpoll", "uring").
	Name() string
	// Add starts delivering to p.
	Add(p *Player) error
	// Flush says that s has new data (or lost a player) and its players
	// should be written to now rather than at the next interval tick.
	Flush(s *Stream)
	// Close stops the transport's workers.
	Close() error
}
