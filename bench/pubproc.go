package bench

import (
	"context"
	"regexp"
	"strconv"

	"github.com/bbllive/bbllive/bench/synth"
)

// PublisherProcess is `bbllive bench publish` run as a separate process.
// On loopback the server's receive work runs in the sender's context, so a
// publisher inside the harness would add it to the players' CPU; apart, the
// load generator's figure is the players' alone and the publisher's is
// reported beside it.
type PublisherProcess struct{ *child }

// publishingPattern matches the line bench publish logs once every
// publisher has been accepted.
var publishingPattern = regexp.MustCompile(`^publishing [0-9]+ stream`)

// StartPublisherProcess runs bin bench publish with n synthetic streams of
// sc to url (a pattern with {i}) and waits until they are accepted.
func StartPublisherProcess(ctx context.Context, bin, url string, n int, sc synth.Config) (*PublisherProcess, error) {
	args := append([]string{"bench", "publish", "-url", url, "-n", strconv.Itoa(n)}, synthArgs(sc)...)
	c, _, err := startChild(ctx, "publisher", bin, args, publishingPattern)
	if err != nil {
		return nil, err
	}
	return &PublisherProcess{c}, nil
}

// synthArgs are the bench publish flags for sc; a zero field keeps the
// synthetic stream's default.
func synthArgs(sc synth.Config) []string {
	var args []string
	for _, f := range []struct {
		name string
		v    int
	}{{"bitrate", sc.Bitrate}, {"fps", sc.FPS}, {"gop", sc.GOP}, {"width", sc.Width}, {"height", sc.Height}} {
		if f.v > 0 {
			args = append(args, "-"+f.name, strconv.Itoa(f.v))
		}
	}
	return append(args, "-audio="+strconv.FormatBool(sc.Audio))
}
