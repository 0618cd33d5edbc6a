package rtmp

// StatusCode is the code of an onStatus or _result reply's info object
// (its first Object argument), or "" when it has none.
func (c *Command) StatusCode() string {
	for _, a := range c.Args {
		if o, ok := a.(Object); ok {
			return o.String("code")
		}
	}
	return ""
}
