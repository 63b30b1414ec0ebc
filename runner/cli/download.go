package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/ssdrunner/ssdrunner/registry"
	"github.com/ssdrunner/ssdrunner/runner/download"
	"github.com/ssdrunner/ssdrunner/runner/download/openimages"
)

// The environment variables that move the Open Images downloader to a mirror.
const (
	envOpenImagesBaseURL   = "RUNNER_OPEN_IMAGES_BASE_URL"
	envOpenImagesImagesURL = "RUNNER_OPEN_IMAGES_IMAGES_URL"
)

const downloadUsage = `Usage:
  runner data download open-images --root DIR --classes "Name[:group_filter[:percentage]],…" [flags]
      download the Open Images boxes and images of some classes, as the PyTorch SSD
      project's open_images_downloader.py does, into the layout the open_images dataset
      reads (run 'runner data download open-images --help' for the flags)
`

// downloadSources are the datasets `runner data download` knows.
var downloadSources = []string{"open-images"}

func (a *app) dataDownload(args []string) int {
	if len(args) == 0 {
		fmt.Fprint(a.stderr, downloadUsage)
		return exitUsage
	}
	switch args[0] {
	case "open-images":
		return a.downloadOpenImages(args[1:])
	case "-h", "--help", "help":
		fmt.Fprint(a.stdout, downloadUsage)
		return exitOK
	}
	msg := fmt.Sprintf("runner data download: unknown dataset %q", args[0])
	if s := registry.Suggest(args[0], downloadSources); s != "" {
		msg += fmt.Sprintf("; did you mean %q?", s)
	}
	fmt.Fprintf(a.stderr, "%s (known: %s)\n", msg, strings.Join(downloadSources, ", "))
	return exitUsage
}

func (a *app) downloadOpenImages(args []string) int {
	fs := newFlagSet(a, "data download open-images", "--root DIR --classes LIST [flags]",
		"Download the Open Images (2018_04 release) boxes and images of some classes into DIR, as the reference's open_images_downloader.py:\n"+
			"DIR/sub-<split>-annotations-bbox.csv and DIR/<split>/<ImageID>.jpg for the splits train, validation and test,\n"+
			"which the open_images dataset reads. Files present and whole are kept, so running again continues or checks")
	root := fs.String("root", "", "download folder (created); the release's CSV files are kept there too")
	classes := fs.String("classes", "", `comma-separated classes, each Name[:group_filter[:percentage]] (e.g. "Handgun,Shotgun", "Person:~group:0.2");`+
		"\ngroup_filter \"group\" keeps only images whose boxes of the class are group boxes, \"~group\" only those without group boxes;"+
		"\npercentage (0.3 or 30%) samples the class: a random 1 - percentage share of its boxes is drawn and their images left out, as the reference")
	workers := fs.Int("workers", 10, "concurrent image downloads (the reference's --num_workers)")
	retry := fs.Int("retry", 10, "tries per file on network errors and server errors (5xx), with back-off")
	backoff := fs.Duration("backoff", time.Second, "wait after the first failed try; doubles after each further one, up to 30 s")
	depiction := fs.Bool("include-depiction", false, "keep boxes of drawings and other depictions (IsDepiction = 1)")
	filterFile := fs.String("filter-file", "", "file of image ids (one per line) never to select")
	overlapped := fs.Bool("remove-overlapped", false, "drop single-object boxes of images that have a group box")
	seed := fs.Uint64("seed", 0, "seed of the percentage sampling and of the row order (the reference's np.random.seed), 0 … 4294967295")
	splits := fs.String("splits", strings.Join(openimages.Splits, ","), "splits to download (only all three give the reference's random draws)")
	baseURL := fs.String("base-url", envOr(a.env, envOpenImagesBaseURL, openimages.DefaultBaseURL), "where the release's CSV files are (env "+envOpenImagesBaseURL+")")
	imagesURL := fs.String("images-url", envOr(a.env, envOpenImagesImagesURL, openimages.DefaultImagesURL), "where the images are, as <split>/<ImageID>.jpg (env "+envOpenImagesImagesURL+")")
	jsonOut := fs.Bool("json", false, "print the summary as JSON")
	pos, code, ok := parseArgs(fs, args)
	if !ok {
		return code
	}
	usageErr := func(format string, args ...any) int {
		fmt.Fprintf(a.stderr, "runner data download open-images: "+format+"\n", args...)
		return exitUsage
	}
	switch {
	case len(pos) > 0:
		return usageErr("unexpected argument %q (flags only)", pos[0])
	case *root == "":
		return usageErr("--root is required")
	case *workers < 1 || *workers > 256:
		return usageErr("--workers %d: want 1 to 256", *workers)
	case *retry < 1:
		return usageErr("--retry %d: want at least 1", *retry)
	case *backoff < 0:
		return usageErr("--backoff %s is negative", *backoff)
	case *seed > math.MaxUint32:
		return usageErr("--seed %d: want 0 to 4294967295 (NumPy's seeds)", *seed)
	}
	specs, err := openimages.ParseClasses(*classes)
	if err != nil {
		return usageErr("--classes: %v", err)
	}
	var splitList []string
	for _, s := range strings.Split(*splits, ",") {
		if s = strings.TrimSpace(s); s != "" {
			splitList = append(splitList, s)
		}
	}
	rules := openimages.Rules{Classes: specs, IncludeDepiction: *depiction, RemoveOverlapped: *overlapped, Seed: uint32(*seed)}
	if *filterFile != "" {
		if rules.Exclude, err = openimages.ReadFilterFile(*filterFile); err != nil {
			fmt.Fprintf(a.stderr, "runner data download open-images: %v\n", err)
			return exitError
		}
	}
	client := download.NewClient(*retry, *workers, a.log)
	client.Backoff = *backoff
	client.MaxBackoff = max(30*time.Second, *backoff)
	sum, err := openimages.Run(a.ctx, openimages.Options{
		Root: *root, Rules: rules, Splits: splitList, BaseURL: *baseURL, ImagesURL: *imagesURL, Workers: *workers,
		Client: client, Log: a.log, Console: a.stdout, Terminal: isTerminal(a.stdout) && !*jsonOut,
	})
	if sum != nil {
		if *jsonOut {
			a.writeJSON(sum)
		} else {
			writeDownloadSummary(a.stdout, sum)
		}
	}
	switch {
	case errors.Is(err, context.Canceled):
		fmt.Fprintln(a.stderr, "runner data download open-images: interrupted; run the same command again to continue")
		return 130
	case err != nil:
		fmt.Fprintf(a.stderr, "runner data download open-images: %v\n", err)
		return exitError
	}
	return exitOK
}

// writeDownloadSummary prints what a download did: images and boxes per class and split,
// then the images' fate.
func writeDownloadSummary(w io.Writer, s *openimages.Summary) {
	fmt.Fprintf(w, "Open Images into %s (classes %s, seed %d)\n", s.Root, strings.Join(s.Classes, ", "), s.Seed)
	if len(s.Splits) > 0 {
		// Names left-aligned, counts right-aligned.
		ws, wc := len("split"), len("(all)")
		for _, sp := range s.Splits {
			ws = max(ws, len(sp.Split))
			for _, c := range sp.Classes {
				wc = max(wc, len(c.Class))
			}
		}
		line := func(split, class, images, boxes string) {
			fmt.Fprintf(w, "  %-*s  %-*s  %8s  %8s\n", ws, split, wc, class, images, boxes)
		}
		line("split", "class", "images", "boxes")
		for _, sp := range s.Splits {
			for _, c := range sp.Classes {
				line(sp.Split, c.Class, thousands(int64(c.Images)), thousands(int64(c.Boxes)))
			}
			line(sp.Split, "(all)", thousands(int64(sp.Images)), thousands(int64(sp.Boxes)))
		}
	}
	var parts []string
	parts = append(parts, thousands(int64(s.Downloaded))+" downloaded", thousands(int64(s.Present))+" already present")
	if s.Missing > 0 {
		m := thousands(int64(s.Missing)) + " not on the server (404)"
		if s.MissingFile != "" {
			m += ", listed in " + s.MissingFile
		}
		parts = append(parts, m)
	}
	parts = append(parts, thousands(int64(s.Failed))+" failed")
	if s.Pending > 0 {
		parts = append(parts, thousands(int64(s.Pending))+" not tried")
	}
	fmt.Fprintf(w, "Images: %s selected: %s.\n", thousands(int64(s.Images)), strings.Join(parts, ", "))
	fmt.Fprintf(w, "%s downloaded in %s, %s retried.\n", openimages.BytesText(s.Bytes),
		(time.Duration(s.Seconds * float64(time.Second))).Round(time.Millisecond*100), plural(s.Retries, "request"))
	for _, f := range s.Failures {
		fmt.Fprintf(w, "  failed: %s: %s\n", f.Image, f.Error)
	}
	if s.Failed > len(s.Failures) {
		fmt.Fprintf(w, "  … and %d more failures (see the log)\n", s.Failed-len(s.Failures))
	}
	if s.Missing > 0 {
		fmt.Fprintln(w, "The dataset reads the images present: set skip_missing_images = true in the open_images dataset, or pass the list to --filter-file.")
	}
}

func plural(n int64, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.FormatInt(n, 10) + " " + word + "s"
}
