package main

import (
	"fmt"
	"strings"

	"github.com/bbllive/bbllive/fanout/relay"
	"gopkg.in/yaml.v3"
)

// forwardFlag is -forward: repeatable, each value one rule
// "[PATTERN=]URL[,URL…]" (relay.ParseRule). In the config file it may
// also be a list of such values or a mapping of pattern to URLs.
type forwardFlag struct{ rules []relay.Rule }

// String is every rule, space-separated, as Set reads them.
func (f *forwardFlag) String() string {
	parts := make([]string, len(f.rules))
	for i, r := range f.rules {
		parts[i] = r.String()
	}
	return strings.Join(parts, " ")
}

// Set adds one rule; a bad pattern or URL is refused at start.
func (f *forwardFlag) Set(v string) error {
	r, err := relay.ParseRule(v)
	if err != nil {
		return err
	}
	f.rules = append(f.rules, r)
	return nil
}

// SetYAML implements yamlValue: a string is one rule, a list is one rule
// per item, a mapping is PATTERN: URL[,URL…] or PATTERN: [URL, …], and
// nothing (null) is no rule.
func (f *forwardFlag) SetYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return nil // "forward:" with every entry commented out: no rules
		}
		return f.Set(n.Value)
	case yaml.SequenceNode:
		for _, item := range n.Content {
			if item.Kind != yaml.ScalarNode {
				return fmt.Errorf("line %d: a list item is one rule \"[PATTERN=]URL[,URL…]\", not %s", item.Line, kindName(item))
			}
			if err := f.Set(item.Value); err != nil {
				return fmt.Errorf("line %d: %w", item.Line, err)
			}
		}
		return nil
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			pat, urls := n.Content[i], n.Content[i+1]
			list, err := scalarList(urls)
			if err != nil {
				return fmt.Errorf("line %d: pattern %q: %w", urls.Line, pat.Value, err)
			}
			r, err := relay.ParseRule(pat.Value + "=" + strings.Join(list, ","))
			if err != nil {
				return fmt.Errorf("line %d: %w", pat.Line, err)
			}
			f.rules = append(f.rules, r)
		}
		return nil
	}
	return fmt.Errorf("want a rule, a list of rules or a mapping of pattern to URLs, not %s", kindName(n))
}

// scalarList is a YAML string or a list of strings.
func scalarList(n *yaml.Node) ([]string, error) {
	switch n.Kind {
	case yaml.ScalarNode:
		return []string{n.Value}, nil
	case yaml.SequenceNode:
		out := make([]string, 0, len(n.Content))
		for _, item := range n.Content {
			if item.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("want a URL, not %s", kindName(item))
			}
			out = append(out, item.Value)
		}
		return out, nil
	}
	return nil, fmt.Errorf("want a URL or a list of URLs, not %s", kindName(n))
}
