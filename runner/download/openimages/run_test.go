package openimages

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/ssdrunner/ssdrunner/runner/download"
	"github.com/ssdrunner/ssdrunner/runner/download/openimages/oitest"
)

const testClasses = "Handgun,Shotgun:~group,Knife"

func testOptions(t *testing.T, srv *oitest.Server, root string) Options {
	t.Helper()
	specs, err := ParseClasses(testClasses)
	if err != nil {
		t.Fatal(err)
	}
	c := download.NewClient(5, 4, zerolog.Nop())
	c.Backoff, c.MaxBackoff = time.Millisecond, 5*time.Millisecond
	return Options{Root: root, Rules: Rules{Classes: specs, Seed: 3}, BaseURL: srv.BaseURL(), ImagesURL: srv.ImagesURL(),
		Workers: 4, Client: c, Log: zerolog.Nop()}
}

// expected returns the selection files (split → content) and the selected images
// ("split/id.jpg"), computed by the Selector on the release's files (the selection the
// reference makes, see TestReferenceSelection).
func expected(t *testing.T, rel *oitest.Release, rules Rules) (map[string][]byte, []string) {
	t.Helper()
	dir := t.TempDir()
	writeRelease(t, dir, rel)
	selectAll(t, dir, rules)
	files := map[string][]byte{}
	var images []string
	for _, split := range Splits {
		b, err := os.ReadFile(filepath.Join(dir, SelectionFile(split)))
		if err != nil {
			t.Fatal(err)
		}
		files[split] = b
		recs := readCSV(t, filepath.Join(dir, SelectionFile(split)))
		for _, r := range recs[1:] {
			images = append(images, split+"/"+r[0]+".jpg")
		}
	}
	slices.Sort(images)
	return files, slices.Compact(images)
}

// leftovers lists the temporary and partial files under root.
func leftovers(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && (strings.Contains(d.Name(), ".tmp-") || strings.HasSuffix(d.Name(), ".part") || strings.HasSuffix(d.Name(), ".etag")) {
			out = append(out, p)
		}
		return nil
	})
	return out
}

func TestRunFlakyServer(t *testing.T) {
	rel := oitest.NewRelease(1)
	srv := oitest.NewServer(rel)
	defer srv.Close()
	root := filepath.Join(t.TempDir(), "oi")
	opts := testOptions(t, srv, root)
	wantFiles, wantImages := expected(t, rel, opts.Rules)
	if len(wantImages) < 30 {
		t.Fatalf("only %d images selected: the fixture is too small", len(wantImages))
	}
	// Faults: 5xx on the descriptions, a dropped connection mid-body on the train file
	// (resumed with a range request), 5xx and drops on some images, two images gone (404).
	srv.Fail5xx["/release/class-descriptions-boxable.csv"] = 2
	srv.Drop["/release/train/train-annotations-bbox.csv"] = 1
	srv.Fail5xx["/release/validation/validation-annotations-bbox.csv"] = 1
	missing := []string{wantImages[3], wantImages[len(wantImages)-2]}
	for _, m := range missing {
		srv.NotFound["/images/"+m] = true
	}
	for i := 5; i < 25; i += 3 {
		srv.Fail5xx["/images/"+wantImages[i]] = 2
		srv.Drop["/images/"+wantImages[i+1]] = 2
	}

	sum, err := Run(context.Background(), opts)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if sum.Images != len(wantImages) || sum.Downloaded != len(wantImages)-2 || sum.Missing != 2 || sum.Failed != 0 || sum.Present != 0 {
		t.Errorf("summary: %d images, %d downloaded, %d missing, %d failed, %d present; want %d, %d, 2, 0, 0",
			sum.Images, sum.Downloaded, sum.Missing, sum.Failed, sum.Present, len(wantImages), len(wantImages)-2)
	}
	if sum.Retries < 20 {
		t.Errorf("%d retries, want at least the 20 faults that ask for one", sum.Retries)
	}
	if srv.Ranges() == 0 {
		t.Error("the dropped train file was not resumed with a range request")
	}
	for _, split := range Splits {
		got, err := os.ReadFile(filepath.Join(root, SelectionFile(split)))
		if err != nil || !bytes.Equal(got, wantFiles[split]) {
			t.Errorf("%s: the selection file differs from the expected selection (%v)", split, err)
		}
		if b, _ := os.ReadFile(filepath.Join(root, AnnotationsFile(split))); !bytes.Equal(b, rel.Annotations[split]) {
			t.Errorf("%s: the release file was not kept whole", split)
		}
	}
	for _, im := range wantImages {
		got, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(im)))
		switch {
		case slices.Contains(missing, im):
			if err == nil {
				t.Errorf("%s: written although the server has not got it", im)
			}
		case err != nil || !bytes.Equal(got, rel.Images[im]):
			t.Errorf("%s: not the server's bytes (%v)", im, err)
		}
	}
	var perSplit int
	for _, s := range sum.Splits {
		perSplit += s.Images
	}
	if perSplit != len(wantImages) {
		t.Errorf("per-split images add up to %d, want %d", perSplit, len(wantImages))
	}
	if l := leftovers(t, root); len(l) > 0 {
		t.Errorf("temporary files left: %v", l)
	}
	list, err := os.ReadFile(filepath.Join(root, MissingFile))
	wantList := []string{idOf(missing[0]), idOf(missing[1])}
	slices.Sort(wantList)
	if err != nil || string(list) != strings.Join(wantList, "\n")+"\n" {
		t.Errorf("%s: %q, %v; want %v", MissingFile, list, err, wantList)
	}

	// A second run downloads nothing: no file and no HEAD (the manifest knows every size);
	// only the two missing images are asked for again.
	before := srv.Gets()
	sum, err = Run(context.Background(), opts)
	if err != nil {
		t.Fatalf("second Run: %v", err)
	}
	if sum.Downloaded != 0 || sum.Present != len(wantImages)-2 || sum.Missing != 2 || sum.Bytes != 0 {
		t.Errorf("second run: %d downloaded, %d present, %d missing, %d bytes; want 0, %d, 2, 0", sum.Downloaded, sum.Present, sum.Missing, sum.Bytes, len(wantImages)-2)
	}
	after := srv.Gets()
	for p, n := range after {
		if d := n - before[p]; d != 0 && !slices.Contains(missing, strings.TrimPrefix(p, "/images/")) {
			t.Errorf("second run: %d GETs of %s", d, p)
		}
	}
	if h := srv.Heads(); len(h) != 0 {
		t.Errorf("second run: HEAD requests %v", h)
	}

	// The filter file takes the missing list: a third run selects the rest only.
	ids, err := ReadFilterFile(filepath.Join(root, MissingFile))
	if err != nil {
		t.Fatal(err)
	}
	opts.Rules.Exclude = ids
	if sum, err = Run(context.Background(), opts); err != nil || sum.Missing != 0 || sum.Images != len(wantImages)-2 {
		t.Errorf("with --filter-file %s: %v, %d images, %d missing", MissingFile, err, sum.Images, sum.Missing)
	}
	if _, err := os.Stat(filepath.Join(root, MissingFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s stays after a run without missing images: %v", MissingFile, err)
	}
}

func idOf(image string) string {
	return strings.TrimSuffix(filepath.Base(image), ".jpg")
}

func TestRunInterruptedThenResumed(t *testing.T) {
	rel := oitest.NewRelease(2)
	srv := oitest.NewServer(rel)
	defer srv.Close()
	srv.Delay = 20 * time.Millisecond
	root := t.TempDir()
	opts := testOptions(t, srv, root)
	opts.Workers = 2
	_, wantImages := expected(t, rel, opts.Rules)

	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for srv.ImageGets() < 6 {
			time.Sleep(2 * time.Millisecond)
		}
		cancel()
	}()
	start := time.Now()
	sum, err := Run(ctx, opts)
	if !errors.Is(err, context.Canceled) || sum == nil || !sum.Interrupted {
		t.Fatalf("interrupted Run: %v, summary %+v", err, sum)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the interrupted run took %s to stop", d)
	}
	if sum.Pending == 0 || sum.Downloaded+sum.Pending != len(wantImages) {
		t.Errorf("interrupted: %d downloaded, %d pending of %d", sum.Downloaded, sum.Pending, len(wantImages))
	}
	if l := leftovers(t, root); len(l) > 0 {
		t.Errorf("temporary files left: %v", l)
	}
	first := sum.Downloaded
	for _, im := range wantImages {
		if b, err := os.ReadFile(filepath.Join(root, im)); err == nil && !bytes.Equal(b, rel.Images[im]) {
			t.Errorf("%s: partial", im)
		}
	}

	srv.Delay = 0
	sum, err = Run(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Present != first || sum.Downloaded != len(wantImages)-first {
		t.Errorf("resumed: %d present, %d downloaded; want %d, %d", sum.Present, sum.Downloaded, first, len(wantImages)-first)
	}
}

func TestRunChecksFilesOfOtherTools(t *testing.T) {
	rel := oitest.NewRelease(3)
	srv := oitest.NewServer(rel)
	defer srv.Close()
	root := t.TempDir()
	opts := testOptions(t, srv, root)
	_, wantImages := expected(t, rel, opts.Rules)
	if _, err := Run(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	// As if another tool had written the folder: no manifest, one image and the test
	// file cut short.
	os.Remove(filepath.Join(root, ManifestFile))
	cut := filepath.Join(root, wantImages[0])
	os.WriteFile(cut, rel.Images[wantImages[0]][:100], 0o644)
	testFile := filepath.Join(root, AnnotationsFile("test"))
	os.WriteFile(testFile, rel.Annotations["test"][:200], 0o644)
	sum, err := Run(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Downloaded != 1 || sum.Present != len(wantImages)-1 {
		t.Errorf("%d downloaded, %d present; want 1, %d", sum.Downloaded, sum.Present, len(wantImages)-1)
	}
	if b, _ := os.ReadFile(cut); !bytes.Equal(b, rel.Images[wantImages[0]]) {
		t.Error("the cut image was not downloaded again")
	}
	if b, _ := os.ReadFile(testFile); !bytes.Equal(b, rel.Annotations["test"]) {
		t.Error("the cut annotation file was not downloaded again")
	}
	if h := srv.Heads(); len(h) != len(wantImages)+len(Splits)+1 {
		t.Errorf("%d HEADs, want one per image and release file (%d)", len(h), len(wantImages)+len(Splits)+1)
	}
}

func TestRunErrors(t *testing.T) {
	rel := oitest.NewRelease(4)
	srv := oitest.NewServer(rel)
	defer srv.Close()
	root := t.TempDir()
	opts := testOptions(t, srv, root)

	// A second run into the same folder is refused while the first holds the lock.
	unlock, err := lock(filepath.Join(root, lockFile))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Run(context.Background(), opts); err == nil || !strings.Contains(err.Error(), "another download is writing into") {
		t.Errorf("concurrent run: %v", err)
	}
	unlock()

	// An unknown class names the descriptions file and suggests.
	o := opts
	o.Rules.Classes = []ClassSpec{{Name: "Hand gun", Fraction: 1}}
	if _, err := Run(context.Background(), o); err == nil || !strings.Contains(err.Error(), `did you mean "Handgun"`) {
		t.Errorf("unknown class: %v", err)
	}

	// Images that keep failing are counted, named, and the run fails; the rest is there.
	_, wantImages := expected(t, rel, opts.Rules)
	srv.Fail5xx["/images/"+wantImages[1]] = 100
	sum, err := Run(context.Background(), opts)
	if !errors.Is(err, ErrFailed) || sum.Failed != 1 || len(sum.Failures) != 1 || sum.Failures[0].Image != wantImages[1] ||
		!strings.Contains(sum.Failures[0].Error, "503") || !strings.Contains(sum.Failures[0].Error, "after 5 attempts") {
		t.Errorf("failing image: %v, %+v", err, sum)
	}
	if sum.Downloaded != len(wantImages)-1 {
		t.Errorf("%d downloaded, want %d", sum.Downloaded, len(wantImages)-1)
	}

	// A server that is not there: the error names the URL.
	o = opts
	o.Root = t.TempDir()
	o.BaseURL = "http://127.0.0.1:1/release"
	o.Client.Attempts = 1
	if _, err := Run(context.Background(), o); err == nil || !strings.Contains(err.Error(), "127.0.0.1:1/release/class-descriptions-boxable.csv") {
		t.Errorf("no server: %v", err)
	}
}

func TestRunProgressOnTerminal(t *testing.T) {
	rel := oitest.NewRelease(6)
	srv := oitest.NewServer(rel)
	defer srv.Close()
	opts := testOptions(t, srv, t.TempDir())
	var console bytes.Buffer
	opts.Console, opts.Terminal = &console, true
	sum, err := Run(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	out := console.String()
	for _, want := range []string{
		"\r\033[Kclass-descriptions-boxable.csv [", "\r\033[Ktrain-annotations-bbox.csv [========================] ",
		"\r\033[Kreading train-annotations-bbox.csv [", fmt.Sprintf("\r\033[Kimages [========================] %d/%d  ", sum.Images, sum.Images),
	} {
		if !strings.Contains(out, want) {
			t.Errorf("console lacks %q:\n%q", want, out)
		}
	}
	if !strings.HasSuffix(out, "\n") {
		t.Error("the last bar's line is not ended")
	}
}
