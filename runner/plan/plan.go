package plan

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"

	"github.com/ssdrunner/ssdrunner/components/anchors"
	"github.com/ssdrunner/ssdrunner/components/dataset"
	"github.com/ssdrunner/ssdrunner/components/model"
	"github.com/ssdrunner/ssdrunner/components/optimizer"
	"github.com/ssdrunner/ssdrunner/components/scheduler"
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
	Schedule    Schedule        `json:"schedule"`
	Training    config.Training `json:"training"`
	Warnings    []string        `json:"warnings,omitempty"`
}

// Model summarises the network.
type Model struct {
	Backbone   string   `json:"backbone"`
	Head       string   `json:"head"`
	NumClasses int      `json:"num_classes"`
	Modules    []Module `json:"modules"`
	Params     int64    `json:"params"`
	Trainable  int64    `json:"trainable"`
	Groups     []Group  `json:"groups"`
	Init       string   `json:"init,omitempty"` // what loading model.init's weights did
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

// Make resolves everything the experiment names. All problems found are returned
// together, joined.
func Make(res *config.Result) (*Plan, error) {
	e := &res.Experiment
	p := &Plan{
		Name: e.Name, Description: e.Description, Files: res.Chain,
		RunDir:    filepath.Join(e.Output.Dir, e.Name),
		Training:  e.Training,
		Optimizer: e.Optimizer.Type,
	}
	var errs []error
	fail := func(where string, err error) { errs = append(errs, fmt.Errorf("%s: %w", where, err)) }

	// datasets
	env := dataset.Env{BaseDir: "."}
	var train dataset.Dataset
	if ds, err := dataset.Build(e.Data.Train, env); err != nil {
		fail("data.train", err)
	} else {
		train = ds
		p.Data.Train = Dataset{Type: e.Data.Train.Type, Images: ds.Len(), Classes: ds.ClassNames()}
	}
	if e.Data.Validation.Type != "" {
		if ds, err := dataset.Build(e.Data.Validation, env); err != nil {
			fail("data.validation", err)
		} else {
			p.Data.Validation = &Dataset{Type: e.Data.Validation.Type, Images: ds.Len(), Classes: ds.ClassNames()}
		}
	} else {
		p.Warnings = append(p.Warnings, "no validation dataset: validation is skipped")
	}
	p.Data.BatchSize, p.Data.Augmentation = e.Data.BatchSize, e.Data.Augmentation
	if len(e.Data.Transforms) > 0 {
		var names []string
		for _, t := range e.Data.Transforms {
			names = append(names, t.Type)
		}
		p.Data.Augmentation = "chain " + strings.Join(names, " -> ")
	}
	if train != nil {
		p.Data.StepsPerEpoch = int(math.Ceil(float64(train.Len()) / float64(e.Data.BatchSize)))
	}

	// classes
	numClasses, err := classCount(e, train)
	if err != nil {
		fail("model", err)
	}
	if p.Data.Validation != nil && p.Data.Train.Classes != nil && !slices.Equal(p.Data.Validation.Classes, p.Data.Train.Classes) {
		p.Warnings = append(p.Warnings, "the validation dataset's classes differ from the training dataset's")
	}

	// anchors
	gen, err := anchors.Build(e.Model.Anchors)
	if err != nil {
		fail("model.anchors", err)
	} else {
		maps := gen.FeatureMaps()
		p.Anchors = Anchors{Type: e.Model.Anchors.Type, ImageSize: gen.ImageSize(), Total: anchors.NumPriors(maps)}
		for _, m := range maps {
			p.Anchors.FeatureMaps = append(p.Anchors.FeatureMaps, FeatureMap{Size: m.Size, BoxesPerLocation: m.BoxesPerLocation, Count: m.Count})
		}
	}

	// model
	var groups Assignment
	if gen != nil && numClasses > 0 {
		vs := nn.NewVarStore(gotch.CPU)
		m, err := model.Build(vs, e.Model.Backbone, e.Model.Head, anchors.BoxesPerLocation(gen.FeatureMaps()), numClasses)
		if err != nil {
			fail("model", err)
		} else {
			p.Model = Model{Backbone: e.Model.Backbone.Type, Head: e.Model.Head.Type, NumClasses: numClasses}
			if err := checkFeatureMaps(m, gen); err != nil {
				fail("model", err)
			}
			groups, err = ResolveGroups(m.Modules(), e)
			if err != nil {
				fail("param_group", err)
			}
			for _, mp := range m.ParamCounts() {
				frozen := groups.Frozen[mp.Module]
				p.Model.Modules = append(p.Model.Modules, Module{Name: mp.Module, Params: mp.Params, Group: groups.GroupOf[mp.Module], Frozen: frozen})
				p.Model.Params += mp.Params
				if !frozen {
					p.Model.Trainable += mp.Params
				}
			}
			p.Model.Groups = groups.Groups
			if in := e.Model.Init; in.BaseNet != "" || in.Pretrained != "" {
				var labels []string
				if train != nil {
					labels = train.ClassNames()
				}
				// model.Init reads no files but the weights: the pretrained model's labels
				// are read here, when sub-sampling needs them.
				var theirs []string
				var err error
				if in.Pretrained != "" && in.OnClassMismatch == model.Subsample && in.PretrainedLabels != "" {
					if theirs, err = dataset.ReadLabels(in.PretrainedLabels); err != nil {
						err = fmt.Errorf("pretrained %s: %w", in.Pretrained, err)
					}
				}
				var rep model.LoadReport
				if err == nil {
					rep, err = m.Init(model.InitConfig{BaseNet: in.BaseNet, Pretrained: in.Pretrained,
						OnClassMismatch: in.OnClassMismatch, PretrainedLabels: theirs, Labels: labels,
						IgnoreKeys: in.IgnoreKeys})
				}
				if err != nil {
					fail("model.init", err)
				} else {
					p.Model.Init = rep.String()
				}
			}
		}
	}

	// optimizer options (built for real once there are parameters to train)
	if _, _, err := optimizer.Registry.Resolve(e.Optimizer); err != nil {
		fail("optimizer", err)
	}

	// schedule
	schedRef := e.Scheduler
	if schedRef.Type == "" {
		schedRef.Type = "constant"
	}
	if s, err := scheduler.Build(schedRef); err != nil {
		fail("scheduler", err)
	} else {
		p.Schedule = Schedule{Type: schedRef.Type, Epochs: sampleEpochs(e.Training.Epochs), LR: map[string][]float64{}}
		for _, g := range groups.Groups {
			p.Schedule.LR[g.Name] = scheduler.At(s, g.LR, max(1, p.Data.StepsPerEpoch), p.Schedule.Epochs...)
		}
	}
	return p, errors.Join(errs...)
}

// checkFeatureMaps runs the backbone on a blank image of the anchors' size and compares
// the feature-map sizes with the anchors' grid.
func checkFeatureMaps(m *model.SSD, gen anchors.Generator) error {
	got, err := m.FeatureMapSizes(gen.ImageSize())
	if err != nil {
		return err
	}
	var want []int
	for _, fm := range gen.FeatureMaps() {
		want = append(want, fm.Size)
	}
	if !slices.Equal(got, want) {
		return fmt.Errorf("the backbone gives feature maps of sizes %v for a %dx%d image, but the anchors are laid out for %v: change the anchors' feature_map_size values or image_size", got, gen.ImageSize(), gen.ImageSize(), want)
	}
	return nil
}

// classCount decides the number of classes (BACKGROUND included): model.num_classes, else
// the labels file, else the training dataset's classes.
func classCount(e *config.Experiment, train dataset.Dataset) (int, error) {
	n := e.Model.NumClasses
	if e.Model.Labels != "" {
		labels, err := dataset.ReadLabels(e.Model.Labels)
		if err != nil {
			return 0, err
		}
		if n != 0 && n != len(labels) {
			return 0, fmt.Errorf("num_classes = %d but %s gives %d classes (BACKGROUND included)", n, e.Model.Labels, len(labels))
		}
		n = len(labels)
	}
	if train != nil {
		dn := len(train.ClassNames())
		if n == 0 {
			n = dn
		} else if n != dn {
			return 0, fmt.Errorf("the model has %d classes but the training dataset has %d (BACKGROUND included)", n, dn)
		}
	}
	if n == 0 {
		return 0, fmt.Errorf("cannot tell the number of classes: set model.num_classes or model.labels")
	}
	return n, nil
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
