package model

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/components/dataset"
	"github.com/ssdrunner/ssdrunner/internal/torch"
)

// vocLabels are the classes of the reference's VOC models (BACKGROUND first).
var vocLabels = []string{"BACKGROUND", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat",
	"chair", "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor"}

// fourLabels is the 4-class model of the sub-sampling tests: cat (VOC 8) and dog (VOC 12)
// exist in the pretrained model (matched case-insensitively), zebra does not.
var fourLabels = []string{"BACKGROUND", "Cat", "dog", "zebra"}

func buildClasses(t *testing.T, kind string, classes int) *SSD {
	t.Helper()
	v := variants[kind]
	m, err := Build(nn.NewVarStore(gotch.CPU), v.backbone, v.head, sixBoxes, classes)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// snapshot returns copies of all the model's variables; free them with dropAll.
func snapshot(m *SSD) map[string]*ts.Tensor {
	out := map[string]*ts.Tensor{}
	root := m.VarStore().Root()
	for _, n := range m.VariableNames() {
		out[n] = cloneValues(root.MustGet(n))
	}
	return out
}

// saveNamed writes tensors in gotch's VarStore.Save format, under their map keys.
func saveNamed(t *testing.T, path string, named map[string]*ts.Tensor) {
	t.Helper()
	var list []ts.NamedTensor
	for k, v := range named {
		list = append(list, ts.NamedTensor{Name: k, Tensor: v})
	}
	if err := ts.SaveMultiNew(list, path); err != nil {
		t.Fatal(err)
	}
}

// ownCheckpoints saves a hash-initialised 21-class model of kind twice, whole
// (VarStore.Save) and as its base net alone (keys without "base_net."), and returns
// the model and both paths.
func ownCheckpoints(t *testing.T, kind string) (src *SSD, full, base string) {
	t.Helper()
	src = buildVariant(t, kind)
	hashInit(t, src.VarStore())
	dir := t.TempDir()
	full, base = filepath.Join(dir, "full.ot"), filepath.Join(dir, "base.ot")
	if err := src.VarStore().Save(full); err != nil {
		t.Fatal(err)
	}
	baseVars := map[string]*ts.Tensor{}
	root := src.VarStore().Root()
	for _, n := range src.VariableNames() {
		if rest, ok := strings.CutPrefix(n, "base_net."); ok {
			baseVars[rest] = root.MustGet(n)
		}
	}
	saveNamed(t, base, baseVars)
	return src, full, base
}

// writeLabels writes names as a labels file and reads it back as callers of Init do, with
// dataset.ReadLabels.
func writeLabels(t *testing.T, names []string) []string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "labels.txt")
	// without BACKGROUND, with a blank line: dataset.ReadLabels adds the one, drops the other
	if err := os.WriteFile(path, []byte(strings.Join(names[1:], "\n")+"\n\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	labels, err := dataset.ReadLabels(path)
	if err != nil {
		t.Fatal(err)
	}
	return labels
}

func isHead(name string) bool {
	return strings.HasPrefix(name, "classification_headers.") || strings.HasPrefix(name, "regression_headers.")
}

// checkXavier checks that a re-initialised weight lies within torch's xavier_uniform_
// bound and, for tensors large enough for it to be near-certain, reaches 90% of it.
func checkXavier(t *testing.T, name string, w *ts.Tensor) {
	t.Helper()
	s := w.MustSize()
	rf := s[2] * s[3]
	bound := math.Sqrt(6 / float64(s[1]*rf+s[0]*rf))
	a := w.MustAbs(false)
	mx := a.MustMax(true)
	m := mx.Float64Values()[0]
	mx.MustDrop()
	if m > bound*(1+1e-6) || (w.Numel() >= 1000 && m < 0.9*bound) {
		t.Errorf("%s: max |w| = %g, xavier bound %g", name, m, bound)
	}
}

// equalTo reports variables of m (those keep says) that differ from want[name].
func equalTo(t *testing.T, what string, m *SSD, want map[string]*ts.Tensor, keep func(string) bool) int {
	t.Helper()
	root, n := m.VarStore().Root(), 0
	for _, name := range m.VariableNames() {
		if !keep(name) {
			continue
		}
		w, ok := want[name]
		if !ok {
			t.Errorf("%s: no %s to compare with", what, name)
			continue
		}
		if d := diffOf(t, name, root.MustGet(name), w).Abs; d != 0 {
			t.Errorf("%s: %s differs by %g", what, name, d)
		}
		n++
	}
	return n
}

func TestInitBaseNetOwnCheckpoint(t *testing.T) {
	for kind := range variants {
		t.Run(kind, func(t *testing.T) {
			src, full, base := ownCheckpoints(t, kind)
			want := snapshot(src)
			defer dropAll(want)
			for _, file := range []string{base, full} {
				m := buildVariant(t, kind)
				fresh := snapshot(m)
				rep, err := m.Init(InitConfig{BaseNet: file})
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("%s: %v", filepath.Base(file), rep)
				isBase := func(n string) bool { return strings.HasPrefix(n, "base_net.") }
				if n := equalTo(t, "base net", m, want, isBase); n != len(rep.Loaded) || !rep.Complete() {
					t.Errorf("%d base-net variables, loaded %d: %v", n, len(rep.Loaded), rep)
				}
				root := m.VarStore().Root()
				var convs []string
				for _, n := range m.VariableNames() {
					if !isBase(n) && len(root.MustGet(n).MustSize()) == 4 {
						convs = append(convs, n)
						checkXavier(t, n, root.MustGet(n))
					}
				}
				if !slices.Equal(rep.Reinitialised, convs) {
					t.Errorf("re-initialised %v, want the convolution weights %v", rep.Reinitialised, convs)
				}
				equalTo(t, "not re-initialised", m, fresh, func(n string) bool { return !isBase(n) && !slices.Contains(convs, n) })
				dropAll(fresh)
				wantIgnored := 0
				if file == full {
					wantIgnored = len(src.VariableNames()) - len(rep.Loaded)
				}
				if len(rep.Ignored) != wantIgnored {
					t.Errorf("ignored %d keys, want %d", len(rep.Ignored), wantIgnored)
				}
			}
		})
	}
}

func TestInitPretrainedOwnCheckpoint(t *testing.T) {
	for kind := range variants {
		t.Run(kind, func(t *testing.T) {
			src, full, _ := ownCheckpoints(t, kind)
			want := snapshot(src)
			defer dropAll(want)

			// Same classes: everything, whatever on_class_mismatch says.
			for _, mode := range []string{"", ReinitClassifier, Subsample} {
				m := buildVariant(t, kind)
				rep, err := m.Init(InitConfig{Pretrained: full, OnClassMismatch: mode})
				if err != nil || !rep.Complete() || len(rep.Reinitialised) != 0 || len(rep.CopiedClasses) != 0 {
					t.Fatalf("%q: %v, %v", mode, rep, err)
				}
				if n := equalTo(t, "same classes", m, want, func(string) bool { return true }); n != len(rep.Loaded) {
					t.Errorf("%d variables, loaded %d", n, len(rep.Loaded))
				}
			}

			// Same count, labels in another order: subsample maps by name.
			perm := slices.Clone(vocLabels)
			slices.Reverse(perm[1:])
			m := buildVariant(t, kind)
			rep, err := m.Init(InitConfig{Pretrained: full, OnClassMismatch: Subsample, PretrainedLabels: writeLabels(t, vocLabels), Labels: perm})
			if err != nil || len(rep.CopiedClasses) != 21 || len(rep.NewClasses) != 0 {
				t.Fatalf("permuted labels: %v, %v", rep, err)
			}
			from := make([]int64, 21)
			for i := range from {
				from[i] = int64((21 - i) % 21)
			}
			checkClassRows(t, m, want, 21, from, nil)
		})
	}
}

// checkClassRows checks every classifier's rows: our class k holds the pretrained
// class from[k] (from[k] < 0: the fresh values, from fresh).
func checkClassRows(t *testing.T, m *SSD, want map[string]*ts.Tensor, oldC int64, from []int64, fresh map[string]*ts.Tensor) {
	t.Helper()
	layers, err := m.classLayers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 6 {
		t.Fatalf("%d class layers, want 6", len(layers))
	}
	root := m.VarStore().Root()
	newC := int64(len(from))
	for _, l := range layers {
		for _, name := range l.names() {
			got := root.MustGet(name).MustReshape([]int64{l.boxes, newC, -1}, false)
			ref := want[name].MustReshape([]int64{l.boxes, oldC, -1}, false)
			for k, f := range from {
				g := got.MustSelect(1, int64(k), false)
				var w *ts.Tensor
				if f >= 0 {
					w = ref.MustSelect(1, f, false)
				} else {
					fr := fresh[name].MustReshape([]int64{l.boxes, newC, -1}, false)
					w = fr.MustSelect(1, int64(k), true)
				}
				if d := diffOf(t, name, g, w).Abs; d != 0 {
					t.Errorf("%s class %d (from %d): differs by %g", name, k, f, d)
				}
				g.MustDrop()
				w.MustDrop()
			}
			got.MustDrop()
			ref.MustDrop()
		}
	}
}

func TestInitSubsampleOwnCheckpoint(t *testing.T) {
	for kind := range variants {
		t.Run(kind, func(t *testing.T) {
			src, full, _ := ownCheckpoints(t, kind)
			want := snapshot(src)
			defer dropAll(want)
			m := buildClasses(t, kind, 4)
			fresh := snapshot(m)
			defer dropAll(fresh)
			rep, err := m.Init(InitConfig{Pretrained: full, OnClassMismatch: Subsample, PretrainedLabels: writeLabels(t, vocLabels), Labels: fourLabels})
			if err != nil {
				t.Fatal(err)
			}
			t.Log(rep)
			wantCopies := []ClassCopy{{"BACKGROUND", 0, 0}, {"Cat", 8, 1}, {"dog", 12, 2}}
			if !slices.Equal(rep.CopiedClasses, wantCopies) || !slices.Equal(rep.NewClasses, []string{"zebra"}) {
				t.Errorf("copied %v, new %v", rep.CopiedClasses, rep.NewClasses)
			}
			if !rep.Complete() || len(rep.Loaded) != len(m.VariableNames()) || len(rep.Reinitialised) != 0 {
				t.Errorf("report %v", rep)
			}
			for _, n := range rep.Ignored {
				if !strings.HasSuffix(n, "num_batches_tracked") {
					t.Errorf("ignored %s", n)
				}
			}
			layers, _ := m.classLayers()
			var classNames []string
			for _, l := range layers {
				classNames = append(classNames, l.names()...)
			}
			if len(classNames) != 12 {
				t.Errorf("class-dependent tensors %v", classNames)
			}
			equalTo(t, "class-independent", m, want, func(n string) bool { return !slices.Contains(classNames, n) })
			checkClassRows(t, m, want, 21, []int64{0, 8, 12, -1}, fresh)
		})
	}
}

func TestInitReinitOwnCheckpoint(t *testing.T) {
	src, full, _ := ownCheckpoints(t, "mb1_ssd_lite")
	want := snapshot(src)
	defer dropAll(want)
	for _, mode := range []string{ReinitHeads, ReinitClassifier} {
		t.Run(mode, func(t *testing.T) {
			m := buildClasses(t, "mb1_ssd_lite", 4)
			fresh := snapshot(m)
			defer dropAll(fresh)
			rep, err := m.Init(InitConfig{Pretrained: full, OnClassMismatch: mode})
			if err != nil {
				t.Fatal(err)
			}
			t.Log(rep)
			reinit := isHead
			if mode == ReinitClassifier {
				reinit = func(n string) bool { return strings.HasPrefix(n, "classification_headers.") }
			}
			n := equalTo(t, "loaded", m, want, func(n string) bool { return !reinit(n) })
			if n != len(rep.Loaded) || !rep.Complete() {
				t.Errorf("%d variables outside the re-initialised headers, loaded %d", n, len(rep.Loaded))
			}
			root := m.VarStore().Root()
			var convs []string
			for _, n := range m.VariableNames() {
				if reinit(n) && len(root.MustGet(n).MustSize()) == 4 {
					convs = append(convs, n)
					checkXavier(t, n, root.MustGet(n))
				}
			}
			if !slices.Equal(rep.Reinitialised, convs) {
				t.Errorf("re-initialised %v, want %v", rep.Reinitialised, convs)
			}
			equalTo(t, "fresh", m, fresh, func(n string) bool { return reinit(n) && !slices.Contains(convs, n) })
		})
	}
}

// truncate writes the first half of src's bytes to a new file and returns its path.
func truncate(t *testing.T, src string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "truncated_"+filepath.Base(src))
	if err := os.WriteFile(dst, b[:len(b)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

func TestInitFileErrors(t *testing.T) {
	_, full, _ := ownCheckpoints(t, "mb1_ssd_lite")
	dir := t.TempDir()
	text := filepath.Join(dir, "text.pth")
	if err := os.WriteFile(text, []byte("not a checkpoint"), 0o644); err != nil {
		t.Fatal(err)
	}
	tiny := golden("init_tiny.pth")
	files := []string{filepath.Join(dir, "absent.pth"), text, truncate(t, tiny), truncate(t, full)}
	for _, f := range files {
		for _, cfg := range []InitConfig{{BaseNet: f}, {Pretrained: f}} {
			m := buildVariant(t, "mb1_ssd_lite")
			if _, err := m.Init(cfg); err == nil || !strings.Contains(err.Error(), f) {
				t.Errorf("%+v: %v", cfg, err)
			} else {
				t.Logf("%s: %v", filepath.Base(f), err)
			}
		}
	}
}

func TestInitArchitectureErrors(t *testing.T) {
	tiny := golden("init_tiny.pth") // "0.0.weight" [4,3,3,3], "0.0.bias" [4], "0.1.running_mean" [4]
	m := buildVariant(t, "mb1_ssd")
	rep, err := m.Init(InitConfig{BaseNet: tiny})
	if err == nil || !strings.Contains(err.Error(), "does not fit the model's base net") || !strings.Contains(err.Error(), tiny) {
		t.Fatalf("tiny base net: %v", err)
	}
	t.Log(err)
	if len(rep.Unexpected) != 1 || rep.Unexpected[0] != "base_net.0.0.bias" || len(rep.Mismatched) != 2 || len(rep.Missing) == 0 {
		t.Errorf("report %+v", rep)
	}
	if mm := rep.Mismatched[0]; mm.Name != "base_net.0.0.weight" || !slices.Equal(mm.Model, []int64{32, 3, 3, 3}) || !slices.Equal(mm.File, []int64{4, 3, 3, 3}) {
		t.Errorf("mismatch %+v", mm)
	}
	if _, err := m.Init(InitConfig{Pretrained: tiny}); err == nil || !strings.Contains(err.Error(), "use base_net") {
		t.Errorf("base net given as pretrained: %v", err)
	}

	// An SSDLite checkpoint into an SSD: the heads' shapes differ.
	_, full, _ := ownCheckpoints(t, "mb1_ssd_lite")
	rep, err = m.Init(InitConfig{Pretrained: full})
	if err == nil || !strings.Contains(err.Error(), "does not fit the model") || len(rep.Missing) == 0 || len(rep.Unexpected) == 0 {
		t.Errorf("ssd_lite into ssd: %v, %v", rep, err)
	}
}

func TestInitConfigErrors(t *testing.T) {
	_, full, base := ownCheckpoints(t, "mb1_ssd_lite")
	voc := writeLabels(t, vocLabels)
	short := writeLabels(t, vocLabels[:5])
	cases := []struct {
		cfg     InitConfig
		classes int
		want    string
	}{
		{InitConfig{BaseNet: base, Pretrained: full}, 21, "both base_net"},
		{InitConfig{Pretrained: full, OnClassMismatch: "drop"}, 21, "on_class_mismatch must be"},
		{InitConfig{Pretrained: full, OnClassMismatch: Subsample, Labels: fourLabels}, 4, "needs pretrained_labels"},
		{InitConfig{Pretrained: full, OnClassMismatch: Subsample, PretrainedLabels: voc}, 4, "needs the model's 4 class names"},
		{InitConfig{Pretrained: full, OnClassMismatch: Subsample, PretrainedLabels: short, Labels: fourLabels}, 4, "lists 5"},
		{InitConfig{Pretrained: full, OnClassMismatch: Subsample, PretrainedLabels: voc, Labels: []string{"BACKGROUND", "cat", "CAT", "dog"}}, 4, `"CAT" appears twice`},
	}
	for _, c := range cases {
		m := buildClasses(t, "mb1_ssd_lite", c.classes)
		if _, err := m.Init(c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want an error containing %q", c.cfg, err, c.want)
		}
	}
	m := buildVariant(t, "mb1_ssd_lite")
	if rep, err := m.Init(InitConfig{}); err != nil || len(rep.Loaded) != 0 {
		t.Errorf("empty config: %v, %v", rep, err)
	}
}

// TestInitGradMode checks that Init leaves gradient recording as it found it.
func TestInitGradMode(t *testing.T) {
	defer withGrad(t)()
	_, full, base := ownCheckpoints(t, "mb1_ssd_lite")
	for _, cfg := range []InitConfig{{BaseNet: base}, {Pretrained: full}} {
		m := buildClasses(t, "mb1_ssd_lite", 4)
		if _, err := m.Init(cfg); err != nil {
			t.Fatal(err)
		}
		on, err := torch.SetGradEnabled(true)
		if err != nil || !on {
			t.Errorf("%+v: grad mode on after Init: %v, %v", cfg, on, err)
		}
		if _, err := torch.SetGradEnabled(false); err != nil {
			t.Fatal(err)
		}
		if _, err := m.Init(cfg); err != nil {
			t.Fatal(err)
		}
		on, err = torch.SetGradEnabled(true)
		if err != nil || on {
			t.Errorf("%+v: grad mode off before Init, after: %v, %v", cfg, on, err)
		}
	}
}

func TestLoadReportString(t *testing.T) {
	r := LoadReport{Loaded: []string{"a", "b"}, Reinitialised: []string{"c"},
		CopiedClasses: []ClassCopy{{"BACKGROUND", 0, 0}, {"cat", 8, 1}}, NewClasses: []string{"zebra"}}
	want := "loaded 2 tensors, ignored 0, re-initialised 1; classes from the pretrained model: BACKGROUND, cat; new classes: zebra"
	if got := r.String(); got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

// TestInitFreesTensors repeats a sub-sampling Init (file reading, loading, row copies)
// and checks that the C heap does not keep what it read.
func TestInitFreesTensors(t *testing.T) {
	_, full, _ := ownCheckpoints(t, "mb1_ssd_lite")
	voc := writeLabels(t, vocLabels)
	m := buildClasses(t, "mb1_ssd_lite", 4)
	cfgs := []InitConfig{
		{Pretrained: full, OnClassMismatch: Subsample, PretrainedLabels: voc, Labels: fourLabels},
		{Pretrained: full},
		{BaseNet: full},
	}
	g, err := torch.MeasureGrowth(3, 12, func(i int) error {
		_, err := m.Init(cfgs[i%len(cfgs)])
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("per Init: C heap %+.0f bytes, RSS %+.0f bytes", g.MallocPerStep(), g.RSSPerStep())
	if g.MallocPerStep() > 64<<10 { // the checkpoint holds 17 MB of tensors
		t.Errorf("C heap grew by %.0f bytes per Init", g.MallocPerStep())
	}
}

// TestInitIgnoreKeys starts from a base-net file that also holds a classifier's extra
// layers (as a whole ImageNet checkpoint does): strict loading refuses it, ignore_keys
// leaves those keys out and loads the rest exactly, and ignore_keys taking a key the
// model needs, every key, or none, is answered as such.
func TestInitIgnoreKeys(t *testing.T) {
	src, _, base := ownCheckpoints(t, "mb1_ssd_lite")
	want := snapshot(src)
	defer dropAll(want)
	named, err := readStateDict(base)
	if err != nil {
		t.Fatal(err)
	}
	defer dropAll(named)
	extra := map[string]*ts.Tensor{
		"fc.weight":                ts.MustOnes([]int64{1000, 1024}, gotch.Float, gotch.CPU),
		"fc.bias":                  ts.MustOnes([]int64{1000}, gotch.Float, gotch.CPU),
		"layer4.0.conv1.weight":    ts.MustOnes([]int64{8, 4, 1, 1}, gotch.Float, gotch.CPU),
		"layer4.0.bn1.running_var": ts.MustOnes([]int64{8}, gotch.Float, gotch.CPU),
	}
	defer dropAll(extra)
	all := map[string]*ts.Tensor{}
	for k, v := range named {
		all[k] = v
	}
	for k, v := range extra {
		all[k] = v
	}
	file := filepath.Join(t.TempDir(), "imagenet.ot")
	saveNamed(t, file, all)
	isBase := func(n string) bool { return strings.HasPrefix(n, "base_net.") }

	m := buildVariant(t, "mb1_ssd_lite")
	if rep, err := m.Init(InitConfig{BaseNet: file}); err == nil || len(rep.Unexpected) != len(extra) {
		t.Errorf("strict: %v, %v; want an error listing the %d extra keys", rep, err, len(extra))
	}

	m = buildVariant(t, "mb1_ssd_lite")
	rep, err := m.Init(InitConfig{BaseNet: file, IgnoreKeys: []string{"fc.*", "layer4", "classifier"}})
	if err != nil {
		t.Fatal(err)
	}
	wantIgnored := []string{"fc.bias", "fc.weight", "layer4.0.bn1.running_var", "layer4.0.conv1.weight"}
	if !slices.Equal(rep.Ignored, wantIgnored) || !slices.Equal(rep.UnmatchedIgnore, []string{"classifier"}) {
		t.Errorf("ignored %v (want %v), unmatched %v (want [classifier])", rep.Ignored, wantIgnored, rep.UnmatchedIgnore)
	}
	if n := equalTo(t, "base net", m, want, isBase); n != len(rep.Loaded) || n == 0 {
		t.Errorf("%d base-net variables equal, loaded %d", n, len(rep.Loaded))
	}
	if s := rep.String(); !strings.Contains(s, "ignored 4") || !strings.Contains(s, "ignore_keys matching no key: classifier") {
		t.Errorf("report: %s", s)
	}

	for _, c := range []struct {
		keys []string
		want string
	}{
		{[]string{"fc", "layer4", "0"}, "missing"},  // takes keys the model needs
		{[]string{"*"}, "leave out every one"},      // takes everything
		{[]string{"fc", "[a-"}, "not a valid glob"}, // bad glob
	} {
		m := buildVariant(t, "mb1_ssd_lite")
		if _, err := m.Init(InitConfig{BaseNet: file, IgnoreKeys: c.keys}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ignore_keys %q: %v, want an error containing %q", c.keys, err, c.want)
		}
	}
}
