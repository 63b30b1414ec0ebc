package cli

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/ssdrunner/ssdrunner/runner/build"
	"github.com/ssdrunner/ssdrunner/runner/plan"
)

// writePlan prints a plan for people.
func writePlan(w io.Writer, p *plan.Plan) {
	fmt.Fprintf(w, "Experiment %s\n", p.Name)
	if p.Description != "" {
		fmt.Fprintf(w, "  %s\n", p.Description)
	}
	fmt.Fprintf(w, "  files:   %s\n", strings.Join(p.Files, " <- "))
	fmt.Fprintf(w, "  run dir: %s\n\n", p.RunDir)

	m := p.Model
	fmt.Fprintf(w, "Model: backbone %s, head %s, %d classes (BACKGROUND included)\n", m.Backbone, m.Head, m.NumClasses)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "  module\tparameters\tgroup\tfrozen\t")
	for _, mod := range m.Modules {
		frozen := ""
		if mod.Frozen {
			frozen = "yes"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t\n", mod.Name, thousands(mod.Params), mod.Group, frozen)
	}
	fmt.Fprintf(tw, "  total\t%s\t\t\t\n", thousands(m.Params))
	fmt.Fprintf(tw, "  trainable\t%s\t\t\t\n", thousands(m.Trainable))
	tw.Flush()
	if m.Init != "" {
		fmt.Fprintf(w, "  initial weights: %s\n", m.Init)
	}
	fmt.Fprintln(w, "\nParameter groups:")
	for _, g := range m.Groups {
		fmt.Fprintf(w, "  %-10s lr %-10s weight decay %-8s modules %s\n", g.Name, num(g.LR), num(g.WeightDecay), strings.Join(g.Modules, ", "))
	}

	an := p.Anchors
	fmt.Fprintf(w, "\nAnchors: %s, image %dx%d, %s priors\n", an.Type, an.ImageSize, an.ImageSize, thousands(int64(an.Total)))
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "  feature map\tboxes/location\tpriors\t")
	for _, fm := range an.FeatureMaps {
		fmt.Fprintf(tw, "  %dx%d\t%d\t%s\t\n", fm.Size, fm.Size, fm.BoxesPerLocation, thousands(int64(fm.Count)))
	}
	tw.Flush()

	d := p.Data
	fmt.Fprintf(w, "\nData: batch %d, %d steps per epoch, augmentation %s\n", d.BatchSize, d.StepsPerEpoch, d.Augmentation)
	fmt.Fprintf(w, "  train:      %s, %s images, %d classes\n", d.Train.Type, thousands(int64(d.Train.Images)), len(d.Train.Classes))
	if d.Validation != nil {
		fmt.Fprintf(w, "  validation: %s, %s images\n", d.Validation.Type, thousands(int64(d.Validation.Images)))
	}
	fmt.Fprintf(w, "  training transform:   %s\n", transformLine(d.TrainTransform))
	if d.ValTransform != nil {
		fmt.Fprintf(w, "  validation transform: %s\n", transformLine(*d.ValTransform))
	}
	if len(d.Skipped) > 0 {
		fmt.Fprintf(w, "  skipped %d bad sample(s) (on_bad_sample = \"skip\"):\n", len(d.Skipped))
		for i, s := range d.Skipped {
			if i == 10 {
				fmt.Fprintf(w, "    … and %d more\n", len(d.Skipped)-10)
				break
			}
			fmt.Fprintf(w, "    %s\n", s)
		}
	}

	t := p.Training
	lossText := p.Loss
	if len(p.LossOptions) > 0 {
		keys := slices.Sorted(maps.Keys(p.LossOptions))
		opts := make([]string, len(keys))
		for i, k := range keys {
			opts[i] = fmt.Sprintf("%s %v", k, p.LossOptions[k])
		}
		lossText += " (" + strings.Join(opts, ", ") + ")"
	}
	fmt.Fprintf(w, "\nTraining: %d epochs, validate every %d, optimizer %s, loss %s, freeze %s, device %s, seed %d\n",
		t.Epochs, t.ValidateEvery, p.Optimizer, lossText, t.Freeze, t.Device, t.Seed)
	s := p.Schedule
	fmt.Fprintf(w, "Schedule: %s\n", s.Type)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "  epoch\t")
	for _, e := range s.Epochs {
		fmt.Fprintf(tw, "%d\t", e)
	}
	fmt.Fprintln(tw)
	for _, g := range m.Groups {
		fmt.Fprintf(tw, "  lr %s\t", g.Name)
		for _, v := range s.LR[g.Name] {
			fmt.Fprintf(tw, "%s\t", num(v))
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	for _, warn := range p.Warnings {
		fmt.Fprintf(w, "\nwarning: %s\n", warn)
	}
}

func num(v float64) string { return strconv.FormatFloat(v, 'g', 4, 64) }

func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// transformLine says what a transform gives the model: its output size and normalisation.
func transformLine(t build.TransformInfo) string {
	out := t.Name
	if t.Size > 0 {
		out += fmt.Sprintf(", output %dx%d", t.Size, t.Size)
	} else {
		out += ", no resize"
	}
	if t.Std != nil {
		out += fmt.Sprintf(", normalised (x - %s) / %s", floatList(t.Mean), floatList(t.Std))
	} else {
		out += ", not normalised"
	}
	return out
}

func floatList(v []float64) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = num(x)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}
