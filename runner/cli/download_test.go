package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ssdrunner/ssdrunner/runner/download/openimages/oitest"
)

func TestDownloadOpenImages(t *testing.T) {
	if testing.Short() {
		t.Skip("downloads a fake release, then checks and plans an experiment on it")
	}
	rel := oitest.NewRelease(1)
	srv := oitest.NewServer(rel)
	defer srv.Close()
	srv.Fail5xx["/release/test/test-annotations-bbox.csv"] = 1
	dir := t.TempDir()
	root := filepath.Join(dir, "open_images")
	out, errOut, code := run(t, "", "data", "download", "open-images", "--root", root, "--classes", "Handgun, Shotgun:~group, Knife",
		"--base-url", srv.BaseURL(), "--images-url", srv.ImagesURL(), "--workers", "3", "--backoff", "1ms")
	if code != exitOK {
		t.Fatalf("download: %d\n%s%s", code, out, errOut)
	}
	t.Logf("summary:\n%s", out)
	for _, want := range []string{"Open Images into " + root + " (classes Handgun, Shotgun:~group, Knife, seed 0)", "train", "validation", "Shotgun",
		"Images: ", " downloaded, 0 already present, 0 failed.", "1 request retried."} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}

	// The environment names the mirror; a second run downloads nothing.
	var o, e bytes.Buffer
	code = Run(context.Background(), []string{"data", "download", "open-images", "--root", root, "--classes", "Handgun,Shotgun:~group,Knife", "--json"}, &o, &e,
		[]string{"HOME=" + t.TempDir(), "RUNNER_OPEN_IMAGES_BASE_URL=" + srv.BaseURL(), "RUNNER_OPEN_IMAGES_IMAGES_URL=" + srv.ImagesURL()})
	var sum struct {
		Images, Downloaded, Present int
	}
	if err := json.Unmarshal(o.Bytes(), &sum); code != exitOK || err != nil || sum.Downloaded != 0 || sum.Present != sum.Images || sum.Images == 0 {
		t.Fatalf("second run: %d, %v, %+v\n%s%s", code, err, sum, o.String(), e.String())
	}

	// `runner data check` passes on the result, and an experiment on it plans.
	abs, _ := filepath.Abs(filepath.Join(repoRoot, "experiments", "base", "mb1-ssd.hcl"))
	exp := filepath.Join(dir, "exp.hcl")
	os.WriteFile(exp, []byte(`inherits = "`+abs+`"
data {
  train "open_images" {
    root = "${path.experiment}/open_images"
  }
  validation "open_images" {
    root    = "${path.experiment}/open_images"
    split   = "test"
    classes = ["Handgun", "Knife", "Shotgun"]
  }
}
`), 0o644)
	out, errOut, code = run(t, "", "data", "check", exp, "--images")
	if code != exitOK || !strings.Contains(out, "train (open_images): ") || !strings.Contains(out, "validation (open_images): ") || strings.Contains(out, "problem(s)") {
		t.Fatalf("data check: %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = run(t, "", "plan", exp)
	if code != exitOK || !strings.Contains(out, "open_images") {
		t.Fatalf("plan: %d\n%s%s", code, out, errOut)
	}
}

func TestDownloadUsageErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"data", "download"}, "Usage:"},
		{[]string{"data", "download", "open-image"}, `did you mean "open-images"`},
		{[]string{"data", "download", "open-images", "--classes", "Handgun"}, "--root is required"},
		{[]string{"data", "download", "open-images", "--root", "x"}, "--classes: no class given"},
		{[]string{"data", "download", "open-images", "--root", "x", "--classes", "Handgun:grp"}, `group filter "grp"`},
		{[]string{"data", "download", "open-images", "--root", "x", "--classes", "Handgun", "--workers", "0"}, "--workers 0"},
		{[]string{"data", "download", "open-images", "--root", "x", "--classes", "Handgun", "--seed", "4294967296"}, "--seed 4294967296"},
		{[]string{"data", "download", "open-images", "--root", "x", "--classes", "Handgun", "extra"}, `unexpected argument "extra"`},
	} {
		_, errOut, code := run(t, "", c.args...)
		if code != exitUsage || !strings.Contains(errOut, c.msg) {
			t.Errorf("%v: %d %q, want usage error with %q", c.args, code, errOut, c.msg)
		}
	}
	dir := t.TempDir()
	_, errOut, code := run(t, "", "data", "download", "open-images", "--root", dir, "--classes", "Handgun", "--splits", "train,val",
		"--base-url", "http://127.0.0.1:1", "--images-url", "http://127.0.0.1:1")
	if code != exitError || !strings.Contains(errOut, `split "val" is not one of train, validation, test`) {
		t.Errorf("bad split: %d %q", code, errOut)
	}
	_, errOut, code = run(t, "", "data", "download", "open-images", "--root", dir, "--classes", "Handgun", "--filter-file", filepath.Join(dir, "nope.txt"))
	if code != exitError || !strings.Contains(errOut, "filter file: ") || !strings.Contains(errOut, "nope.txt") {
		t.Errorf("missing filter file: %d %q", code, errOut)
	}
	out, _, code := run(t, "", "data", "--help")
	if code != exitOK || !strings.Contains(out, "runner data download open-images") {
		t.Errorf("data --help: %d %q", code, out)
	}
}
