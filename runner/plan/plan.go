// Package plan summarises a built run (runner/build) for people and machines: the model
// with its parameter groups, the anchors, the datasets and transforms, and the schedule.
package plan

import (
	"math"
	"path/filepath"
	"slices"

	"github.com/ssdrunner/ssdrunner/components/anchors"
	"github.com/ssdrunner/ssdrunner/components/scheduler"
	"github.com/ssdrunner/ssdrunner/runner/build"
	"github.com/ssdrunner/ssdrunner/runner/config"
)

// Plan describes a resolved experiment.
type Plan struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Files       []string        `json:"files"`
	RunDir      string          `json:"run_dir"`
	Model       Model           `json:"model"`
	Anchors     Anchors         `json:"anchors"`
	Data        Data            `json:"data"`
	Optimizer   string          `json:"optimizer"`
	Loss        string          `json:"loss"`
	LossOptions map[string]any  `json:"loss_options,omitempty"` // the experiment's, defaults left out
	Schedule    Schedule        `json:"schedule"`
	Training    config.Training `json:"training"`
	Warnings    []string        `json:"warnings,omitempty"`
}

// Model summarises the network.
type Model struct {
	Backbone   string        `json:"backbone"`
	Head       string        `json:"head"`
	NumClasses int           `json:"num_classes"`
	Modules    []Module      `json:"modules"`
	Params     int64         `json:"params"`
	Trainable  int64         `json:"trainable"`
	Groups     []build.Group `json:"groups"`
	Init       string        `json:"init,omitempty"` // what loading model.init's weights did
}

// Module is one top-level module with its parameter count and policy.
type Module struct {
	Name   string `json:"name"`
	Params int64  `json:"params"`
	Group  string `json:"group"`
	Frozen bool   `json:"frozen"`
}

// Anchors summarises the priors.
type Anchors struct {
	Type        string       `json:"type"`
	ImageSize   int          `json:"image_size"`
	FeatureMaps []FeatureMap `json:"feature_maps"`
	Total       int          `json:"total"`
}

// FeatureMap is one level of the pyramid: anchors and the backbone's map must agree.
type FeatureMap struct {
	Size             int `json:"size"`
	BoxesPerLocation int `json:"boxes_per_location"`
	Count            int `json:"count"`
}

// Data summarises the datasets.
type Data struct {
	Train         Dataset  `json:"train"`
	Validation    *Dataset `json:"validation,omitempty"`
	BatchSize     int      `json:"batch_size"`
	StepsPerEpoch int      `json:"steps_per_epoch"`
	Augmentation  string   `json:"augmentation"`
	// TrainTransform and ValTransform say what the model sees: output size and normalisation.
	TrainTransform build.TransformInfo  `json:"train_transform"`
	ValTransform   *build.TransformInfo `json:"validation_transform,omitempty"`
	// Skipped lists the samples dropped while reading the datasets (on_bad_sample = "skip").
	Skipped []string `json:"skipped,omitempty"`
}

// Dataset is a dataset's size and classes.
type Dataset struct {
	Type    string   `json:"type"`
	Images  int      `json:"images"`
	Classes []string `json:"classes"`
}

// Schedule samples the learning rate of each group over the run.
type Schedule struct {
	Type   string               `json:"type"`
	Epochs []int                `json:"epochs"`
	LR     map[string][]float64 `json:"lr"` // group name -> lr at Epochs
}

// Summarize describes a built run.
func Summarize(res *config.Result, r *build.Run) *Plan {
	e := &res.Experiment
	lossRef := e.LossRef()
	p := &Plan{
		Name: e.Name, Description: e.Description, Files: res.Chain,
		RunDir:      filepath.Join(e.Output.Dir, e.Name),
		Training:    e.Training,
		Optimizer:   e.Optimizer.Type,
		Loss:        lossRef.Type,
		LossOptions: lossRef.Options,
		Warnings:    slices.Clone(r.Warnings),
	}
	if r.Train != nil {
		p.Data.Train = Dataset{Type: e.Data.Train.Type, Images: r.Train.Len(), Classes: r.Train.ClassNames()}
		p.Data.StepsPerEpoch = int(math.Ceil(float64(r.Train.Len()) / float64(e.Data.BatchSize)))
	}
	if r.Validation != nil {
		p.Data.Validation = &Dataset{Type: e.Data.Validation.Type, Images: r.Validation.Len(), Classes: r.Validation.ClassNames()}
	}
	p.Data.BatchSize = e.Data.BatchSize
	p.Data.Augmentation = r.TrainInfo.Name
	p.Data.TrainTransform = r.TrainInfo
	if r.ValTransform != nil {
		v := r.ValInfo
		p.Data.ValTransform = &v
	}
	for _, pr := range r.Problems {
		p.Data.Skipped = append(p.Data.Skipped, pr.Err.Error())
	}

	if r.Anchors != nil {
		maps := r.Anchors.FeatureMaps()
		p.Anchors = Anchors{Type: e.Model.Anchors.Type, ImageSize: r.ImageSize, Total: anchors.NumPriors(maps)}
		for _, m := range maps {
			p.Anchors.FeatureMaps = append(p.Anchors.FeatureMaps, FeatureMap{Size: m.Size, BoxesPerLocation: m.BoxesPerLocation, Count: m.Count})
		}
	}

	if m := r.Model; m != nil {
		p.Model = Model{Backbone: e.Model.Backbone.Type, Head: e.Model.Head.Type, NumClasses: len(r.Classes)}
		for _, mp := range m.ParamCounts() {
			frozen := r.Groups.Frozen[mp.Module]
			p.Model.Modules = append(p.Model.Modules, Module{Name: mp.Module, Params: mp.Params, Group: r.Groups.GroupOf[mp.Module], Frozen: frozen})
			p.Model.Params += mp.Params
			if !frozen {
				p.Model.Trainable += mp.Params
			}
		}
		p.Model.Groups = r.Groups.Groups
		if r.InitReport != nil {
			p.Model.Init = r.InitReport.String()
		}
	}

	if r.Schedule != nil {
		p.Schedule = Schedule{Type: e.SchedulerRef().Type, Epochs: sampleEpochs(e.Training.Epochs), LR: map[string][]float64{}}
		for _, g := range r.Groups.Groups {
			p.Schedule.LR[g.Name] = scheduler.At(r.Schedule, g.LR, max(1, p.Data.StepsPerEpoch), p.Schedule.Epochs...)
		}
	}
	return p
}

// sampleEpochs picks a few epochs to print the schedule at: the first, quarters, the last.
func sampleEpochs(n int) []int {
	seen := map[int]bool{}
	var out []int
	for _, e := range []int{0, 1, n / 4, n / 2, 3 * n / 4, n - 1} {
		if e >= 0 && e < n && !seen[e] {
			seen[e] = true
			out = append(out, e)
		}
	}
	return out
}
