package fanout

// Transport writes wire-log ranges to players. It is format-blind: a
// player is a connection and a cursor into its Output's wire log, and the
// transport writes [cursor, head) whatever the format (an HTTP player is a
// hijacked connection handed over exactly as an RTMP player is after
// play). The netpoll transport and the io_uring one plug in behind the
// same calls; a transport that can also read publishers implements
// PublisherReader.
type Transport interface {
	// Name is how logs and metrics call the transport ("netpoll", "uring").
	Name() string
	// Add starts delivering to p.
	Add(p *Player) error
	// Flush says that o has new data (or lost a player) and its players
	// should be written to now rather than at the next interval tick.
	Flush(o *Output)
	// Close stops the transport's workers.
	Close() error
}

// PublisherReader is a Transport that also reads publishers' connections
// (io_uring: a publisher's media is received and ingested on a worker,
// with no goroutine per publisher). The hub hands it every publisher;
// transports without it leave reading to the publisher's session.
type PublisherReader interface {
	Transport
	addPublisher(p *publisher) error
}
