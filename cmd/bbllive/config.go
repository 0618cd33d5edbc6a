package main

import (
	"flag"
	"fmt"
	"os"

	"gopkg.in/yaml.v3"
)

// yamlValue is a flag value that takes more from the config file than one
// string: a list, a mapping (-forward's rules). Every other flag takes a
// scalar, set as if given on the command line.
type yamlValue interface {
	flag.Value
	SetYAML(*yaml.Node) error
}

// applyConfigFile sets, from a YAML mapping of flag names to values, every
// flag the command line did not set; the defaults stay embedded in the
// flags, so no file is ever required.
func applyConfigFile(fs *flag.FlagSet, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	var kv map[string]yaml.Node
	if err := yaml.Unmarshal(data, &kv); err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for k, v := range kv {
		f := fs.Lookup(k)
		if f == nil || k == "config" {
			return fmt.Errorf("config %s: unknown key %q (keys are the flag names of 'bbllive serve -h')", path, k)
		}
		if given[k] {
			continue
		}
		if err := setFromYAML(fs, f, &v); err != nil {
			return fmt.Errorf("config %s: %s: %w", path, k, err)
		}
	}
	return nil
}

// setFromYAML sets f from the config file's node n.
func setFromYAML(fs *flag.FlagSet, f *flag.Flag, n *yaml.Node) error {
	if yv, ok := f.Value.(yamlValue); ok {
		return yv.SetYAML(n)
	}
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want a single value, not %s", n.Line, kindName(n))
	}
	v := n.Value
	if n.Tag == "!!null" {
		v = "" // "key:" or "key: null" is the empty value
	}
	return fs.Set(f.Name, v)
}

// kindName names a YAML node's shape for an error, with its article.
func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	case yaml.AliasNode:
		return "an alias"
	}
	return "a value"
}
