package bench

import (
	"fmt"
	"strconv"
	"strings"
)

// ExpandName substitutes the player or publisher index i into pattern:
// "{i}" becomes i and "{i%K}" becomes i mod K, so "rtmp://h/live/s_{i}"
// gives every player its own stream and "rtmp://h/live/s_{i%4}" spreads
// players over four.
func ExpandName(pattern string, i int) (string, error) {
	var b strings.Builder
	for {
		open := strings.Index(pattern, "{")
		if open < 0 {
			b.WriteString(pattern)
			return b.String(), nil
		}
		end := strings.Index(pattern[open:], "}")
		if end < 0 {
			return "", fmt.Errorf("bench: %q: unclosed {", pattern)
		}
		b.WriteString(pattern[:open])
		expr := pattern[open+1 : open+end]
		pattern = pattern[open+end+1:]
		switch {
		case expr == "i":
			b.WriteString(strconv.Itoa(i))
		case strings.HasPrefix(expr, "i%"):
			k, err := strconv.Atoi(expr[2:])
			if err != nil || k <= 0 {
				return "", fmt.Errorf("bench: {%s}: want {i%%K} with K > 0", expr)
			}
			b.WriteString(strconv.Itoa(i % k))
		default:
			return "", fmt.Errorf("bench: {%s}: only {i} and {i%%K} are known", expr)
		}
	}
}
