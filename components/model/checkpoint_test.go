package model

import (
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/internal/reftest"
	"github.com/ssdrunner/ssdrunner/internal/torch"
)

// TestGoldenSeededCheckpoint loads the reference's own torch.manual_seed(0) models
// through LoadPTH (internal/pthfile's reader) and compares eval-mode outputs on a random
// input. The checkpoints (~38 MB together) are generated at test time, not committed.
func TestGoldenSeededCheckpoint(t *testing.T) {
	ref := reftest.Reference(t)
	out := t.TempDir()
	cmd := exec.Command(reftest.Python(), filepath.Join("testdata", "gen_golden.py"), ref, out, "--seeded")
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
