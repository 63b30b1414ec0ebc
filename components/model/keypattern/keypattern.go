// Package keypattern holds the rules of the checkpoint-key patterns of components/model
// (model.init.ignore_keys, LoadOptions.Skip): what a valid pattern is and which keys it
// takes. It does not need libtorch, so that runner/config checks an experiment's
// ignore_keys with the very rule model.Init applies.
package keypattern

import (
	"errors"
	"fmt"
	"path"
	"strings"
)

// Check returns an error unless every entry of patterns (an ignore_keys list) is a valid
// pattern: a non-empty glob in path.Match syntax. The first bad entry is named.
func Check(patterns []string) error {
	for _, p := range patterns {
		if err := CheckOne(p); err != nil {
			return err
		}
	}
	return nil
}

// CheckOne returns an error unless p is a valid ignore_keys pattern (see Check).
func CheckOne(p string) error {
	if p == "" {
		return errors.New(`ignore_keys entry "" is not a valid glob: it is empty`)
	}
	if _, err := path.Match(p, ""); err != nil {
		return fmt.Errorf("ignore_keys entry %q is not a valid glob (path.Match syntax: *, ?, [a-z])", p)
	}
	return nil
}

// Match reports whether the valid pattern p takes key: as a glob (path.Match, where "*"
// stops at nothing but "/", so "fc.*" takes every key under fc) or as a module name that
// takes every key under it (see InModule).
func Match(p, key string) bool {
	ok, _ := path.Match(p, key)
	return ok || InModule(key, p)
}

// InModule reports whether name is module itself or a name under it ("layer4" and
// "layer4." both take "layer4.0.conv1.weight").
func InModule(name, module string) bool {
	return name == module || strings.HasPrefix(name, strings.TrimSuffix(module, ".")+".")
}
