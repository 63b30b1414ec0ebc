package export

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/internal/torch"
	"github.com/ssdrunner/ssdrunner/runner/config"
	"github.com/ssdrunner/ssdrunner/runner/train"
)

// writeRunnerCheckpoint writes m's variables and a meta record recording res's resolved
// experiment and m's classes, in the layout of a runner apply checkpoint (libtorch's
// archive; the meta record a uint8 tensor of JSON under __meta__).
func writeRunnerCheckpoint(t *testing.T, m *Model, res *config.Result, path string) {
	t.Helper()
	js, err := json.Marshal(train.Meta{Format: train.CheckpointFormat, Experiment: res.Experiment.Resolved(), Classes: m.Classes})
	if err != nil {
		t.Fatal(err)
	}
	// the experiment as JSON decodes it (as ReadCheckpointMeta returns it)
	metaT, err := torch.FromSlices([]int64{int64(len(js))}, js)
	if err != nil {
		t.Fatal(err)
	}
	defer metaT.MustDrop()
	vars := m.SSD.VarStore().Variables()
	names := make([]string, 0, len(vars))
	for k := range vars {
		names = append(names, k)
	}
	sort.Strings(names)
	var named []ts.NamedTensor
	for _, k := range names {
		v := vars[k]
		named = append(named, ts.NamedTensor{Name: k, Tensor: &v})
	}
	named = append(named, ts.NamedTensor{Name: "__meta__", Tensor: metaT})
	if err := ts.SaveMultiNew(named, path); err != nil {
		t.Fatal(err)
	}
}

// sameWeights fails unless a and b have the same variables with the same values.
func sameWeights(t *testing.T, a, b *Model) {
	t.Helper()
	va, vb := a.SSD.VarStore().Variables(), b.SSD.VarStore().Variables()
	if len(va) != len(vb) {
		t.Fatalf("%d variables, want %d", len(vb), len(va))
	}
	for name, x := range va {
		y, ok := vb[name]
		if !ok {
			t.Fatalf("no variable %s", name)
		}
		_, p, err := floatValues(&x)
		if err != nil {
			t.Fatal(err)
		}
		_, q, err := floatValues(&y)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(p, q) {
			t.Fatalf("%s differs", name)
		}
	}
}

// TestLoadRunnerCheckpoint loads a checkpoint in runner apply's layout whose recorded
// experiment is the quickstart (a transform chain, custom anchors, the shapes dataset):
// the experiment and classes come from the checkpoint, the weights are the saved ones.
func TestLoadRunnerCheckpoint(t *testing.T) {
	res, diags := config.Load(filepath.Join(moduleRoot(t), "experiments", "quickstart.hcl"), config.Options{})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	classes := []string{"BACKGROUND", "a", "b", "c", "d", "e", "f", "g", "h"}
	m, err := newModel(&res.Experiment, classes)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	path := filepath.Join(t.TempDir(), "last.pt")
	writeRunnerCheckpoint(t, m, res, path)

	got, err := Load(Source{Checkpoint: path})
	if err != nil {
		t.Fatal(err)
	}
	defer got.Close()
	if !slices.Equal(got.Classes, classes) {
		t.Errorf("classes %v, want %v", got.Classes, classes)
	}
	if got.ImageSize != m.ImageSize || !slices.Equal(got.Priors.MustSize(), m.Priors.MustSize()) {
		t.Errorf("image size %d, priors %v; want %d, %v", got.ImageSize, got.Priors.MustSize(), m.ImageSize, m.Priors.MustSize())
	}
	if got.Experiment.Model.Backbone.Type != "mobilenet_v1" || len(got.Experiment.Data.Transforms) == 0 {
		t.Errorf("experiment not the recorded one: %+v", got.Experiment.Model)
	}
	sameWeights(t, m, got)
}

// TestLoadWeightsFile loads a .pth state_dict with the experiment that describes it, and
// refuses it without one, or with an experiment of another model or class count.
func TestLoadWeightsFile(t *testing.T) {
	m := randomModel(t, "mb1-ssd-lite")
	data, err := PTH(m)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pth := filepath.Join(dir, "model.pth")
	if err := os.WriteFile(pth, data, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := Load(Source{Checkpoint: pth, Experiment: experimentFor(t, "mb1-ssd-lite")})
	if err != nil {
		t.Fatal(err)
	}
	sameWeights(t, m, got)
	got.Close()

	labels := filepath.Join(dir, "labels.txt")
	if err := os.WriteFile(labels, []byte("BACKGROUND\ncat\ndog\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		src  Source
		want string
	}{
		{"no experiment", Source{Checkpoint: pth}, "give the experiment"},
		{"another model", Source{Checkpoint: pth, Experiment: experimentFor(t, "mb1-ssd")}, "does not fit the model"},
		{"other classes", Source{Checkpoint: pth, Experiment: experimentFor(t, "mb1-ssd-lite"), Labels: labels}, "do not have the model's 3 classes"},
		{"missing file", Source{Checkpoint: filepath.Join(dir, "none.pth"), Experiment: experimentFor(t, "mb1-ssd-lite")}, "no such file"},
		{"folder", Source{Checkpoint: dir, Experiment: experimentFor(t, "mb1-ssd-lite")}, "not a regular file"},
		{"no checkpoint", Source{}, "no checkpoint"},
	} {
		if _, err := Load(c.src); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error containing %q", c.name, err, c.want)
		}
	}

	// a truncated and a garbage file: errors naming the file
	for name, content := range map[string][]byte{"truncated.pth": data[:len(data)/2], "garbage.pth": []byte("not a checkpoint at all")} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, content, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Load(Source{Checkpoint: p, Experiment: experimentFor(t, "mb1-ssd-lite")})
		if err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: %v, want an error naming the file", name, err)
		}
	}
}
