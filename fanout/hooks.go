package fanout

import "context"

// Hooks let what sits above the hub — an edge's pulls, forwarding —
// follow the hub's life without the hub knowing them (fanout/relay).

// Demand is told whenever something wants to watch a stream: a player of
// any protocol attaching or waiting for a publisher, a tap (a remuxer)
// attaching. An edge starts pulling a stream at its first want and stops
// some time after the last release.
type Demand interface {
	// Want registers an interest in key ("app/name") with query the
	// viewer's query (tokens travel to the origin that way); release
	// ends it, once. Want must not block.
	Want(key, query string) (release func())
}

// PublishHook is called when a client of this server starts publishing
// the stream s (query is its query); stop is called when that publisher
// lets go, clean when it unpublished on purpose (FCUnpublish, deleteStream:
// the stream is over) rather than being lost (a dropped connection, whose
// return the stream's players wait for). It must not block.
type PublishHook func(s *Stream, query string) (stop func(clean bool))

// SetDemand makes d hear of every want from now on. Call it before serving.
func (h *Hub) SetDemand(d Demand) { h.demand = d }

// OnPublish adds f to what runs at every local publish. Call it before
// serving.
func (h *Hub) OnPublish(f PublishHook) { h.publishHooks = append(h.publishHooks, f) }

// Want registers an interest in key with the hub's Demand, for a viewer
// that is neither a player nor a tap yet (an HLS playlist request before
// its remuxer exists). release is never nil.
func (h *Hub) Want(key, query string) (release func()) {
	if h.demand == nil {
		return func() {}
	}
	return h.demand.Want(key, query)
}

// published runs the publish hooks for s and returns what stops them.
func (h *Hub) published(s *Stream, query string) (stop func(clean bool)) {
	if len(h.publishHooks) == 0 {
		return nil
	}
	stops := make([]func(bool), 0, len(h.publishHooks))
	for _, f := range h.publishHooks {
		if st := f(s, query); st != nil {
			stops = append(stops, st)
		}
	}
	return func(clean bool) {
		for _, st := range stops {
			st(clean)
		}
	}
}

// viewerQueryKey carries a waiting viewer's query to AwaitPublisher.
type viewerQueryKey struct{}

// WithViewerQuery returns ctx carrying a viewer's query (what followed '?'
// in its URL), which AwaitPublisher passes on with its want, so an edge's
// pull started by a waiting viewer carries that viewer's token upstream.
func WithViewerQuery(ctx context.Context, query string) context.Context {
	return context.WithValue(ctx, viewerQueryKey{}, query)
}

func viewerQuery(ctx context.Context) string {
	q, _ := ctx.Value(viewerQueryKey{}).(string)
	return q
}
