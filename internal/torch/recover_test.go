package torch

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// matmulMismatch multiplies [2,3] by [4,5] with gotch's Must* wrapper: libtorch refuses.
func matmulMismatch() {
	a := ts.MustOnes([]int64{2, 3}, gotch.Float, gotch.CPU)
	defer a.MustDrop()
	b := ts.MustOnes([]int64{4, 5}, gotch.Float, gotch.CPU)
	defer b.MustDrop()
	c := a.MustMatmul(b, false) // panics (patched gotch) or exits the process (unpatched)
	c.MustDrop()
}

// childEnv makes the test binary, run again by TestMustPanicsNotExits, run the failing op.
const childEnv = "SSDRUNNER_TORCH_RECOVER_CHILD"

// TestMustPanicsNotExits checks the patch that setup.sh applies to the gotch copy (see
// third_party/gotch-compat/patch-must-panic.sh): a Must* op that libtorch refuses panics
// with the libtorch error, which Recover turns into an error, and deferred functions run.
// Unpatched gotch calls log.Fatal, which would end this test binary at once; so the op runs
// in a child process (this test binary again), and the parent reads how the child ended.
func TestMustPanicsNotExits(t *testing.T) {
	if os.Getenv(childEnv) == "1" {
		deferredRan := false
		err := func() (err error) {
			defer Recover(&err)
			defer func() { deferredRan = true }()
			matmulMismatch()
			return nil
		}()
		fmt.Printf("child: deferred=%v err=%v\n", deferredRan, err)
		if err != nil && deferredRan && strings.Contains(err.Error(), "Libtorch API Error") {
			fmt.Println("child: recovered")
		}
		return
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^TestMustPanicsNotExits$", "-test.v")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "child: recovered") || !strings.Contains(string(out), "mat1 and mat2 shapes cannot be multiplied") {
		t.Fatalf("a failing Must* op did not come back as an error (is build/gotch patched? run make setup): %v\n%s", err, out)
	}
}

// TestRecoverValues checks which panics Recover turns into errors and which go on.
func TestRecoverValues(t *testing.T) {
	libErr := errors.New("Libtorch API Error: something failed")
	wrapped := fmt.Errorf("op: %w", libErr)
	cases := []struct {
		name    string
		value   any
		wantErr error // nil: the panic must go on with value
	}{
		{"libtorch error", libErr, libErr},
		{"wrapped error", wrapped, wrapped},
		{"string", "unreachable", nil},
		{"int", 3, nil},
	}
	for _, c := range cases {
		var err error
		var repanicked any
		func() {
			defer func() { repanicked = recover() }()
			func() {
				defer Recover(&err)
				panic(c.value)
			}()
		}()
		if c.wantErr != nil {
			if err != c.wantErr || repanicked != nil {
				t.Errorf("%s: err %v, panic %v; want err %v and no panic", c.name, err, repanicked, c.wantErr)
			}
		} else if err != nil || repanicked != c.value {
			t.Errorf("%s: err %v, panic %v; want the panic to go on with %v", c.name, err, repanicked, c.value)
		}
	}

	// A runtime error (a programming bug) goes on panicking, with its value.
	var err error
	var repanicked any
	func() {
		defer func() { repanicked = recover() }()
		func() {
			defer Recover(&err)
			var xs []int
			_ = xs[len(xs)] // index out of range
		}()
	}()
	if _, ok := repanicked.(runtime.Error); !ok || err != nil {
		t.Errorf("runtime error: err %v, panic %v; want the runtime.Error to go on", err, repanicked)
	}

	// No panic: err is left as the function set it.
	f := func() (err error) {
		defer Recover(&err)
		return errors.New("plain")
	}
	if err := f(); err == nil || err.Error() != "plain" {
		t.Errorf("no panic: %v", err)
	}
	if got := PanicError(libErr); got != libErr {
		t.Errorf("PanicError(%v) = %v", libErr, got)
	}
}
