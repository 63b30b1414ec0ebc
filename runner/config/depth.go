package config

import (
	"fmt"

	"github.com/hashicorp/hcl/v2"
)

// MaxNesting bounds how deeply brackets and braces may nest in an experiment file, a
// variables file or an override's value. HCL's parsers recurse once per level, and
// 100,000 levels overflow the goroutine stack (a fatal error, not a panic); real files
// nest a few levels.
const MaxNesting = 256

// CheckNesting returns an error diagnostic at the first bracket ((, [ or {) that opens
// level MaxNesting+1 of src, or nil. Brackets are counted everywhere, in strings and
// comments too: the count can only be too high, and only for files that no one writes.
func CheckNesting(src []byte, filename string) *hcl.Diagnostic {
	depth := 0
	pos := hcl.Pos{Line: 1, Column: 1}
	for i, c := range src {
		switch c {
		case '(', '[', '{':
			if depth++; depth > MaxNesting {
				end := pos
				end.Column++
				end.Byte++
				return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Nesting too deep",
					Detail:  fmt.Sprintf("Brackets and braces nest more than %d levels deep here.", MaxNesting),
					Subject: &hcl.Range{Filename: filename, Start: pos, End: end}}
			}
		case ')', ']', '}':
			depth = max(0, depth-1)
		}
		pos.Byte = i + 1
		if c == '\n' {
			pos.Line++
			pos.Column = 1
		} else if c < 0x80 || c >= 0xC0 { // count runes, not UTF-8 continuation bytes
			pos.Column++
		}
	}
	return nil
}
