package main

import _ "github.com/ssdrunner/ssdrunner/components/all" // registrations

// cases lists every side-by-side benchmark, in the order printed.
func cases() []benchCase {
	var out []benchCase
	for _, part := range [][]benchCase{coreCases(), modelCases(), stepCases(), loaderCases(), predictCases()} {
		out = append(out, part...)
	}
	return out
}
