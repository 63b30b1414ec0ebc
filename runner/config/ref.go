package config

import "github.com/ssdrunner/ssdrunner/registry"

type refT = registry.Ref

// refOf turns a component node ({"type": name, option: value…}) into a registry.Ref.
func refOf(node map[string]any) registry.Ref {
	r := registry.Ref{Options: map[string]any{}}
	for k, v := range node {
		if k == "type" {
			r.Type, _ = v.(string)
			continue
		}
		r.Options[k] = v
	}
	return r
}
