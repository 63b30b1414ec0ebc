package train

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/ssdrunner/ssdrunner/runner/config"
)

// runsDir is the folder holding the experiment's run folders: <output.dir>/<name>.
func (t *trainer) runsDir() string { return filepath.Join(t.e.Output.Dir, t.e.Name) }

// newRunDir creates the folder of a new run: <output.dir>/<name>/<run id>, the id being
// --run-name or the UTC start time (sortable).
func (t *trainer) newRunDir() (string, error) {
	if dir := t.opts.Dir; dir != "" {
		if exists(filepath.Join(dir, "summary.json")) || exists(filepath.Join(dir, "checkpoints")) {
			return "", fmt.Errorf("run folder %s holds a run already: resume it with --resume %s", dir, dir)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", err
		}
		return dir, nil
	}
	id := t.opts.RunName
	if id == "" {
		id = t.now().UTC().Format("20060102-150405")
	}
	if strings.ContainsAny(id, `/\`) || id == "." || id == ".." {
		return "", fmt.Errorf("--run-name %q: a run name cannot contain a path separator", id)
	}
	dir := filepath.Join(t.runsDir(), id)
	if t.opts.RunName == "" {
		// two runs started in the same second get -2, -3… suffixes
		for i := 2; exists(dir); i++ {
			dir = filepath.Join(t.runsDir(), fmt.Sprintf("%s-%d", id, i))
		}
	} else if exists(dir) {
		return "", fmt.Errorf("run folder %s exists: resume it with --resume %s, or choose another --run-name", dir, dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	return dir, nil
}

// resumePoint finds the checkpoint to continue from (opts.Resume, else
// training.resume) and returns it with its run folder; nil and "" for a fresh run. A
// checkpoint whose experiment differs from this one is refused with the keys that
// differ, unless opts.Force.
func (t *trainer) resumePoint() (*checkpoint, string, error) {
	spec := t.opts.Resume
	if spec == "" {
		spec = t.e.Training.Resume
	}
	if spec == "" {
		return nil, "", nil
	}
	var ck *checkpoint
	var dir string
	var err error
	switch {
	case spec == "auto":
		ck, dir, err = t.autoCheckpoint()
		if ck == nil && err == nil {
			return nil, "", nil // nothing to resume: a fresh run
		}
	default:
		st, serr := os.Stat(spec)
		if serr != nil {
			return nil, "", fmt.Errorf("resume: %w", serr)
		}
		if st.IsDir() {
			dir = spec
			ck, err = t.newestCheckpoint(dir)
			if ck == nil && err == nil {
				err = fmt.Errorf("resume: %s holds no readable checkpoint (checkpoints/last.pt or checkpoints/epoch-*.pt)", dir)
			}
		} else {
			ck, err = loadCheckpoint(spec)
			dir = filepath.Dir(filepath.Dir(spec))
		}
	}
	if err != nil {
		return nil, "", err
	}
	if diff := config.Diff(ck.Meta.Experiment, config.AsJSON(t.e.Resolved())); len(diff) > 0 {
		diff = WithoutSessionKeys(diff)
		if len(diff) > 0 && !t.opts.Force {
			ck.Close()
			return nil, "", fmt.Errorf("resume: the experiment differs from the one %s was trained with, in: %s (use --force to resume anyway)",
				ck.Path, strings.Join(diff, ", "))
		}
		if len(diff) > 0 {
			t.log.Warn().Strs("keys", diff).Msg("resuming with a changed experiment (--force)")
		}
	}
	if ck.Meta.Epoch >= t.e.Training.Epochs && ck.Meta.Step == 0 {
		t.log.Info().Str("checkpoint", ck.Path).Msg("the run is already complete")
	}
	return ck, dir, nil
}

// WithoutSessionKeys drops, from a list of experiment keys (config.Diff's), those that
// may differ between sessions of one run — a run and its resume, or a sweep trial run
// again: threads, loader settings, logging, resume. keys is left as it is.
func WithoutSessionKeys(keys []string) []string {
	var out []string
	for _, k := range keys {
		if k == "training.resume" || strings.HasPrefix(k, "training.threads") || k == "data.workers" || k == "data.prefetch" ||
			k == "training.log_every" {
			continue
		}
		out = append(out, k)
	}
	return out
}

// autoCheckpoint finds the newest readable checkpoint of the experiment's newest run
// folder that has one.
func (t *trainer) autoCheckpoint() (*checkpoint, string, error) {
	entries, err := os.ReadDir(t.runsDir())
	if errors.Is(err, os.ErrNotExist) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", err
	}
	var dirs []string
	for _, e := range entries {
		if e.IsDir() {
			dirs = append(dirs, e.Name())
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(dirs)))
	for _, d := range dirs {
		dir := filepath.Join(t.runsDir(), d)
		ck, err := t.newestCheckpoint(dir)
		if err != nil {
			return nil, "", err
		}
		if ck != nil {
			return ck, dir, nil
		}
	}
	return nil, "", nil
}

// newestCheckpoint loads the checkpoint of dir that is furthest along: last.pt, which
// every checkpoint write also makes (a link to the new epoch-NNNN.pt, or the interrupted
// position), unless it is unreadable; then the epoch-*.pt files from the newest down. The
// first that reads is the one: later candidates are never further along, so they are not
// read at all. Unreadable ones are skipped with a warning: a checkpoint cut short by a
// crash is never picked up.
func (t *trainer) newestCheckpoint(dir string) (*checkpoint, error) {
	cands, _ := filepath.Glob(filepath.Join(dir, "checkpoints", "epoch-*.pt"))
	sort.Sort(sort.Reverse(sort.StringSlice(cands)))
	cands = append([]string{filepath.Join(dir, "checkpoints", "last.pt")}, cands...)
	for _, p := range cands {
		if !exists(p) {
			continue
		}
		ck, err := loadCheckpoint(p)
		if err != nil {
			t.log.Warn().Err(err).Msg("checkpoint skipped")
			continue
		}
		return ck, nil
	}
	return nil, nil
}
