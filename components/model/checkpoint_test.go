package model

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/internal/torch"
)

const (
	python = "/usr/bin/python3"
	// defaultMirror is where this project's machines keep a bare git mirror of the
	// reference (qfgaohao/pytorch-ssd); SSD_REFERENCE may name a checkout instead.
	defaultMirror = "/work/.mirror/qfgaohao+pytorch-ssd/repo"
)

// referenceCheckout returns a work tree of the reference, or skips the test when
// Python with torch or the reference is not available.
func referenceCheckout(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("skipped in -short mode: runs the reference implementation")
	}
	if err := exec.Command(python, "-c", "import torch").Run(); err != nil {
		t.Skipf("skipped: %s with torch is not available (%v)", python, err)
	}
	if dir := os.Getenv("SSD_REFERENCE"); dir != "" {
		if _, err := os.Stat(filepath.Join(dir, "vision", "ssd", "ssd.py")); err != nil {
			t.Fatalf("SSD_REFERENCE=%s is not a checkout of qfgaohao/pytorch-ssd: %v", dir, err)
		}
		return dir
	}
	if _, err := os.Stat(defaultMirror); err != nil {
		t.Skipf("skipped: no reference checkout (set SSD_REFERENCE to a checkout of qfgaohao/pytorch-ssd; %s is absent)", defaultMirror)
	}
	dir := t.TempDir()
	tarball := filepath.Join(dir, "ref.tar")
	if out, err := exec.Command("git", "--git-dir="+defaultMirror, "archive", "--output="+tarball, "HEAD").CombinedOutput(); err != nil {
		t.Skipf("skipped: cannot extract the reference from %s: %v %s", defaultMirror, err, out)
	}
	if out, err := exec.Command("tar", "-xf", tarball, "-C", dir).CombinedOutput(); err != nil {
		t.Fatalf("extracting the reference: %v %s", err, out)
	}
	return dir
}

// TestGoldenSeededCheckpoint loads the reference's own torch.manual_seed(0) models
// through LoadPTH (gotch's pickle reader) and compares eval-mode outputs on a random
// input. The checkpoints (~38 MB together) are generated at test time, not committed.
func TestGoldenSeededCheckpoint(t *testing.T) {
	ref := referenceCheckout(t)
	out := t.TempDir()
	cmd := exec.Command(python, filepath.Join("testdata", "gen_golden.py"), ref, out, "--seeded")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gen_golden.py --seeded: %v\n%s", err, b)
	}
	for _, kind := range []string{"mb1_ssd", "mb1_ssd_lite"} {
		t.Run(kind, func(t *testing.T) {
			m := buildVariant(t, kind)
			rep := loadStrict(t, m, filepath.Join(out, kind+".pth"))
			if len(rep.Ignored) != 27 { // the base net's batch norms
				t.Errorf("ignored %d keys, want the 27 num_batches_tracked", len(rep.Ignored))
			}
			x := readNpy(t, filepath.Join(out, kind+"_input.npy"))
			defer x.MustDrop()
			var conf, loc *ts.Tensor
			err := torch.NoGrad(func() (err error) { conf, loc, err = m.Forward(x, false); return err })
			if err != nil {
				t.Fatal(err)
			}
			defer conf.MustDrop()
			defer loc.MustDrop()
			compareFile(t, kind+" seeded conf", conf, filepath.Join(out, kind+"_conf.npy"))
			compareFile(t, kind+" seeded loc", loc, filepath.Join(out, kind+"_loc.npy"))
		})
	}
}
