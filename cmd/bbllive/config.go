package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"

	"gopkg.in/yaml.v3"
)

// yamlValue is a flag value that takes more from the config file than one
// string: a list, a mapping (-forward's rules). Every other flag takes a
// scalar, set as if given on the command line.
type yamlValue interface {
	flag.Value
	SetYAML(*yaml.Node) error
}

// configFile is what a -config file set: for each flag taken from it, the
// line and text of its value, so that a value refused later (validate)
// names the file, the line, the key and the value.
type configFile struct {
	path string
	keys map[string]configKey
}

// configKey is where in the file a flag's value is, and its text.
type configKey struct {
	line  int
	value string
}

// applyConfigFile sets, from a YAML mapping of flag names to values, every
// flag the command line did not set; the defaults stay embedded in the
// flags, so no file is ever required.
func applyConfigFile(fs *flag.FlagSet, path string) (*configFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	// A mapping of nodes keeps each value's line; the key nodes are
	// walked in file order so the first bad key is the one reported.
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	cf := &configFile{path: path, keys: map[string]configKey{}}
	if len(doc.Content) == 0 {
		return cf, nil // an empty file, or only comments
	}
	top := doc.Content[0]
	if top.Kind == yaml.ScalarNode && top.Tag == "!!null" {
		return cf, nil // "~": nothing set
	}
	if top.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("config %s: line %d: want a mapping of flag names to values, not %s", path, top.Line, kindName(top))
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	seen := map[string]bool{}
	for i := 0; i+1 < len(top.Content); i += 2 {
		key, v := top.Content[i], top.Content[i+1]
		k := key.Value
		f := fs.Lookup(k)
		if f == nil || k == "config" {
			return nil, fmt.Errorf("config %s: line %d: unknown key %q (keys are the flag names of 'bbllive serve -h')", path, key.Line, k)
		}
		if seen[k] {
			return nil, fmt.Errorf("config %s: line %d: %s is set twice", path, key.Line, k)
		}
		seen[k] = true
		if given[k] {
			continue
		}
		if err := setFromYAML(fs, f, v); err != nil {
			return nil, fmt.Errorf("config %s: %w", path, err)
		}
		cf.keys[k] = configKey{line: v.Line, value: v.Value}
	}
	return cf, nil
}

// setFromYAML sets f from the config file's node n; its error names the
// line, the key and, for a single value, the value.
func setFromYAML(fs *flag.FlagSet, f *flag.Flag, n *yaml.Node) error {
	if yv, ok := f.Value.(yamlValue); ok {
		if err := yv.SetYAML(n); err != nil {
			return fmt.Errorf("%s: %w", f.Name, err)
		}
		return nil
	}
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: %s: want a single value, not %s", n.Line, f.Name, kindName(n))
	}
	v := n.Value
	if n.Tag == "!!null" {
		v = "" // "key:" or "key: null" is the empty value
	}
	if err := fs.Set(f.Name, v); err != nil {
		return fmt.Errorf("line %d: %s %s: %v", n.Line, f.Name, strconv.Quote(v), parseWant(f, err))
	}
	return nil
}

// parseWant replaces the flag package's "parse error" of a number with
// what the flag wants.
func parseWant(f *flag.Flag, err error) error {
	if err.Error() != "parse error" && err.Error() != "value out of range" {
		return err
	}
	g, ok := f.Value.(flag.Getter)
	if !ok {
		return err
	}
	switch g.Get().(type) {
	case int, uint, int64, uint64:
		return errors.New("want a whole number")
	case bool:
		return errors.New("want true or false")
	case time.Duration:
		return errors.New("want a duration such as 200ms")
	}
	return err
}

// locate rewrites the errors of validate about flags that came from the
// file to name the file, the key's line and the value as written there.
func (cf *configFile) locate(err error) error {
	if cf == nil {
		return err
	}
	errs := settingErrors(err)
	for i, e := range errs {
		var se *settingError
		if !errors.As(e, &se) {
			continue
		}
		if k, ok := cf.keys[se.flag]; ok {
			errs[i] = fmt.Errorf("config %s: line %d: %s %s: %s", cf.path, k.line, se.flag, shownWord(k.value), se.want)
		}
	}
	return errors.Join(errs...)
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
