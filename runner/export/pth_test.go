package export

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/sugarme/gotch"
	gnn "github.com/sugarme/gotch/nn"

	"github.com/ssdrunner/ssdrunner/components/head"
	"github.com/ssdrunner/ssdrunner/components/model"
	"github.com/ssdrunner/ssdrunner/internal/reftest"
)

// TestPTHRoundTrip writes a model's state_dict with PTH and reads it back with the
// project's own .pth loader (internal/pthfile): every variable comes back with its
// exact values, and the num_batches_tracked counters are the only extra keys.
func TestPTHRoundTrip(t *testing.T) {
	m := randomModel(t, "mb2-ssd-lite")
	data, err := PTH(m)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "model.pth")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	vs := gnn.NewVarStore(gotch.CPU)
	fresh, err := model.Build(vs, m.Experiment.Model.Backbone, m.Experiment.Model.Head, boxesPerLocation(t, m), len(m.Classes))
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	rep, err := model.LoadPTH(vs, path, model.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := rep.Err(); err != nil {
		t.Fatal(err)
	}
	ours := m.SSD.VarStore().Variables()
	if len(rep.Loaded) != len(ours) {
		t.Errorf("loaded %d variables, the model has %d", len(rep.Loaded), len(ours))
	}
	for _, name := range rep.Ignored {
		if filepath.Ext(name) != ".num_batches_tracked" {
			t.Errorf("unexpected ignored key %s", name)
		}
	}
	for name, want := range ours {
		got := vs.Variables()[name]
		_, a, err := floatValues(&got)
		if err != nil {
			t.Fatal(err)
		}
		_, b, err := floatValues(&want)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(a, b) {
			t.Errorf("%s differs after the round trip", name)
		}
	}
}

func boxesPerLocation(t *testing.T, m *Model) []int {
	t.Helper()
	h, ok := m.SSD.Head.(*head.PerMap)
	if !ok {
		t.Fatalf("head %T", m.SSD.Head)
	}
	return h.Spec.BoxesPerLocation
}

// TestPTHReference loads the exported state_dicts into the reference's own networks with
// its net.load (torch.load and a strict load_state_dict, in python3-torch) and compares
// their test-mode outputs (softmax scores, corner-form boxes) with ours.
func TestPTHReference(t *testing.T) {
	ref := reftest.Reference(t)
	type job struct {
		Model      string  `json:"model"`
		NumClasses int     `json:"num_classes"`
		PTH        string  `json:"pth"`
		Input      string  `json:"input"`
		Dims       []int64 `json:"dims"`
		Out        string  `json:"out"`
	}
	type want struct{ scores, boxes []float32 }
	var jobs []job
	wants := map[string]want{}
	for _, base := range []string{"mb1-ssd", "mb1-ssd-lite", "mb2-ssd-lite", "mb3-large-ssd-lite", "mb3-small-ssd-lite", "sq-ssd-lite", "vgg16-ssd"} {
		m := randomModel(t, base)
		x := randomInput(t, 1, m.ImageSize)
		conditionHeads(t, m, x)
		data, err := PTH(m)
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		j := job{Model: base, NumClasses: len(m.Classes), PTH: filepath.Join(dir, "model.pth"), Input: filepath.Join(dir, "input.bin"), Out: dir}
		if err := os.WriteFile(j.PTH, data, 0o644); err != nil {
			t.Fatal(err)
		}
		dims, input, err := floatValues(x)
		if err != nil {
			t.Fatal(err)
		}
		j.Dims = dims
		writeFloats(t, j.Input, input)
		s, b := ourOutputs(t, m, x)
		wants[base] = want{s, b}
		x.MustDrop()
		m.Close() // (also at cleanup; Close may be called twice)
		jobs = append(jobs, j)
	}
	js, _ := json.Marshal(jobs)
	jobsPath := filepath.Join(t.TempDir(), "jobs.json")
	if err := os.WriteFile(jobsPath, js, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(reftest.Python(), filepath.Join("testdata", "pth_reference.py"), ref, jobsPath)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("pth_reference.py: %v\n%s", err, out.String())
	}
	for _, j := range jobs {
		t.Run(j.Model, func(t *testing.T) {
			w := wants[j.Model]
			for _, o := range []struct {
				name string
				ours []float32
			}{{"scores", w.scores}, {"boxes", w.boxes}} {
				theirs := readFloats(t, filepath.Join(j.Out, o.name+".bin"))
				if len(theirs) != len(o.ours) {
					t.Fatalf("%s: the reference gives %d values, we %d", o.name, len(theirs), len(o.ours))
				}
				// The same libtorch runs the same operations on both sides, so the outputs
				// agree to the bit on one machine; the bound is the project's one for
				// network outputs computed with other kernels or thread counts.
				d := reftest.Compare(float64s(o.ours), float64s(theirs))
				t.Logf("%s %s: %v", j.Model, o.name, d)
				if !d.Within(reftest.Float32Net) {
					t.Errorf("%s: %v > %g", o.name, d, reftest.Float32Net)
				}
			}
		})
	}
}
