package cli

import (
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/ssdrunner/ssdrunner/components/dataset"
	"github.com/ssdrunner/ssdrunner/registry"
	"github.com/ssdrunner/ssdrunner/runner/datacheck"
)

const dataUsage = `Usage:
  runner data check FILE [--images] [--json] [-var …] [--set …]
      read every annotation of the experiment's train and validation datasets (and with
      --images decode every image), then print counts per class, boxes per image, box
      sizes and every problem found; exit 1 when there are problems
  runner data gen-shapes --out DIR [--count N] [--seed S] [--split NAME] [--force]
      write the built-in synthetic shapes dataset as a Pascal VOC folder
  runner data download open-images --root DIR --classes "Handgun,Shotgun" [flags]
      download Open Images boxes and images of some classes, as the PyTorch SSD project's
      open_images_downloader.py, into the layout the open_images dataset reads; resumable
`

// data runs the dataset tools.
func (a *app) data(args []string) int {
	if len(args) == 0 {
		fmt.Fprint(a.stderr, dataUsage)
		return exitUsage
	}
	switch args[0] {
	case "check":
		return a.dataCheck(args[1:])
	case "gen-shapes":
		return a.genShapes(args[1:])
	case "download":
		return a.dataDownload(args[1:])
	case "-h", "--help", "help":
		fmt.Fprint(a.stdout, dataUsage)
		return exitOK
	}
	fmt.Fprintf(a.stderr, "runner data: unknown tool %q\n%s", args[0], dataUsage)
	return exitUsage
}

func (a *app) dataCheck(args []string) int {
	f := &experimentFlags{}
	fs := newFlagSet(a, "data check", "FILE [flags]", "Check every annotation of an experiment's datasets")
	f.register(fs)
	images := fs.Bool("images", false, "also decode every image (slower)")
	pos, code, ok := parseArgs(fs, args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		fmt.Fprintf(a.stderr, "runner data check: expected one experiment file, got %d arguments\n", len(pos))
		return exitUsage
	}
	res, code, ok := a.load(pos[0], f)
	if !ok {
		return code
	}
	e := res.Experiment
	env := dataset.Env{BaseDir: ".", SkipBad: true, Ctx: a.ctx}
	var reports []*datacheck.Report
	bad := false
	for _, d := range []struct {
		name string
		ref  registry.Ref
	}{{"train", e.Data.Train}, {"validation", e.Data.Validation}} {
		if d.ref.Type == "" {
			continue
		}
		a.log.Debug().Str("dataset", d.name).Str("type", d.ref.Type).Msg("reading annotations")
		ds, err := dataset.Build(d.ref, env)
		if err != nil && a.interrupted("data check") {
			return exitInterrupted
		}
		if err != nil {
			fmt.Fprintf(a.stderr, "data.%s: %v\n", d.name, err)
			bad = true
			continue
		}
		a.log.Info().Str("dataset", d.name).Int("images", ds.Len()).Bool("decode", *images).Msg("checking")
		r, err := datacheck.Check(a.ctx, d.name, d.ref.Type, ds, *images)
		if err != nil && a.interrupted("data check") {
			return exitInterrupted
		}
		if err != nil {
			fmt.Fprintf(a.stderr, "data.%s: %v\n", d.name, err)
			return exitError
		}
		bad = bad || len(r.Problems) > 0
		reports = append(reports, r)
	}
	if f.json {
		a.writeJSON(reports)
	} else {
		for _, r := range reports {
			writeDataReport(a.stdout, r)
		}
	}
	if bad {
		return exitError
	}
	return exitOK
}

func writeDataReport(w io.Writer, r *datacheck.Report) {
	fmt.Fprintf(w, "%s (%s): %s images, %s objects (%s difficult), %s images without objects\n",
		r.Name, r.Type, thousands(int64(r.Images)), thousands(int64(r.Objects)), thousands(int64(r.Difficult)), thousands(int64(r.EmptyImages)))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "  class\tobjects\tdifficult\timages\t")
	for _, c := range r.PerClass {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t\n", c.Class, thousands(int64(c.Objects)), thousands(int64(c.Difficult)), thousands(int64(c.Images)))
	}
	tw.Flush()
	st := func(name string, s datacheck.Stats) {
		fmt.Fprintf(w, "  %-16s min %s  median %s  mean %s  max %s\n", name, num(s.Min), num(s.Median), num(s.Mean), num(s.Max))
	}
	st("boxes per image", r.BoxesPerImage)
	st("box width (px)", r.BoxWidth)
	st("box height (px)", r.BoxHeight)
	if r.ImagesDecoded {
		st("image width", r.ImageWidth)
		st("image height", r.ImageHeight)
	}
	if r.TinyBoxes > 0 {
		fmt.Fprintf(w, "  %d boxes have a side under %d px (SSD's smallest priors rarely match them)\n", r.TinyBoxes, datacheck.TinySide)
	}
	for _, warn := range r.Warnings {
		fmt.Fprintf(w, "  warning: %s\n", warn)
	}
	if len(r.Problems) == 0 {
		fmt.Fprintln(w, "  no problems found")
	} else {
		fmt.Fprintf(w, "  %d problem(s):\n", len(r.Problems))
		for _, p := range r.Problems {
			id := p.ID
			if id != "" {
				id += ": "
			}
			fmt.Fprintf(w, "    - %s%s\n", id, strings.ReplaceAll(p.Error, "\n", " "))
		}
	}
	fmt.Fprintln(w)
}

func (a *app) genShapes(args []string) int {
	fs := newFlagSet(a, "data gen-shapes", "--out DIR [flags]", "Write the built-in synthetic shapes dataset as a Pascal VOC folder")
	out := fs.String("out", "", "output folder (created)")
	count := fs.Int("count", 512, "number of images")
	seed := fs.Int("seed", 0, "generator seed")
	split := fs.String("split", "trainval", "name of the ImageSets/Main split file")
	force := fs.Bool("force", false, "write into a folder that is not empty (its split file is rewritten; other files stay)")
	if _, code, ok := parseArgs(fs, args); !ok {
		return code
	}
	if *out == "" {
		fmt.Fprintln(a.stderr, "runner data gen-shapes: --out is required")
		return exitUsage
	}
	if entries, err := os.ReadDir(*out); err == nil && len(entries) > 0 && !*force {
		fmt.Fprintf(a.stderr, "runner data gen-shapes: %s is not empty (%d entries): choose an empty or new folder, or pass --force to write into it anyway\n", *out, len(entries))
		return exitError
	}
	ds, err := dataset.Build(registry.Ref{Type: "shapes", Options: map[string]any{"count": *count, "seed": *seed}}, dataset.Env{BaseDir: "."})
	if err != nil {
		fmt.Fprintf(a.stderr, "runner data gen-shapes: %v\n", err)
		return exitError
	}
	if err := dataset.WriteVOC(ds, *out, *split); err != nil {
		fmt.Fprintf(a.stderr, "runner data gen-shapes: %v\n", err)
		return exitError
	}
	a.log.Info().Str("dir", *out).Int("images", ds.Len()).Msg("wrote shapes dataset in VOC layout")
	return exitOK
}
