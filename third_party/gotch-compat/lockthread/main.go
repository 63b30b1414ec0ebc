// Command lockthread patches a copy of gotch's ts package so that every function that reads
// libtorch's error state runs on one OS thread from start to end.
//
// gotch reports a libtorch error through a thread-local variable that the op's cgo call
// sets and a second cgo call (TorchErr) reads. Between the two the Go scheduler may move
// the goroutine to another OS thread: the error is then lost (and the op's unset output
// handle used) or read by another goroutine's op. Locking the goroutine to its thread for
// the duration of such a function closes that window; the lock nests, so callers that
// already hold one (runner's loader workers, torch.InPlace) are unaffected.
//
// Usage: go run ./third_party/gotch-compat/lockthread DIR   (DIR: the copied gotch's ts folder)
// It prints the number of functions patched.
package main

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

const lockStmts = "\n\truntime.LockOSThread()\n\tdefer runtime.UnlockOSThread()\n"

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: lockthread DIR")
		os.Exit(2)
	}
	total := 0
	files, err := filepath.Glob(filepath.Join(os.Args[1], "*.go"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "lockthread:", err)
		os.Exit(1)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		n, err := patchFile(f)
		if err != nil {
			fmt.Fprintln(os.Stderr, "lockthread:", err)
			os.Exit(1)
		}
		total += n
	}
	fmt.Println(total)
}

// patchFile inserts the lock at the top of every function declaration of path whose body
// calls TorchErr, and imports runtime where needed. It returns how many it patched.
func patchFile(path string) (int, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, path, src, parser.SkipObjectResolution)
	if err != nil {
		return 0, err
	}
	var offsets []int
	for _, d := range file.Decls {
		fn, ok := d.(*ast.FuncDecl)
		if !ok || fn.Body == nil || !callsTorchErr(fn.Body) {
			continue
		}
		offsets = append(offsets, fset.Position(fn.Body.Lbrace).Offset+1)
	}
	if len(offsets) == 0 {
		return 0, nil
	}
	sort.Sort(sort.Reverse(sort.IntSlice(offsets)))
	out := string(src)
	for _, off := range offsets {
		out = out[:off] + lockStmts + out[off:]
	}
	if !importsRuntime(file) {
		// A second import declaration right after the package clause is valid Go.
		end := fset.Position(file.Name.End()).Offset
		out = out[:end] + "\n\nimport \"runtime\"\n" + out[end:]
	}
	return len(offsets), os.WriteFile(path, []byte(out), 0o644)
}

func callsTorchErr(body *ast.BlockStmt) bool {
	found := false
	ast.Inspect(body, func(n ast.Node) bool {
		if c, ok := n.(*ast.CallExpr); ok {
			if id, ok := c.Fun.(*ast.Ident); ok && id.Name == "TorchErr" {
				found = true
			}
		}
		return !found
	})
	return found
}

func importsRuntime(f *ast.File) bool {
	for _, im := range f.Imports {
		if im.Path.Value == `"runtime"` && (im.Name == nil || im.Name.Name == "runtime") {
			return true
		}
	}
	return false
}
