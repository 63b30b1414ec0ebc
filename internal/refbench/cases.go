package main

import _ "github.com/ssdrunner/ssdrunner/components/all" // registrations

// cases lists every side-by-side benchmark, in the order printed.
func cases() []benchCase {
	return append(append(append(coreCases(), modelCases()...), loaderCases()...), predictCases()...)
}
