// Package config loads experiment files: HCL (or its JSON form) with variables, locals and
// inheritance, layered with koanf under environment and --set overrides, decoded into the
// typed Experiment and checked, with every problem reported as a diagnostic that names the
// file, line and column (or the override that caused it).
package config

import "github.com/ssdrunner/ssdrunner/registry"

// Experiment is one whole run. Struct tags drive decoding: `hcl:"name"` for attributes,
// `hcl:"name,block"` for blocks; a registry.Ref field is a component block labelled with the
// component's registered name (`kind` tag = the registry kind); a []registry.Ref field is a
// set of component blocks keyed by their label; a map[string]S field is a set of labelled
// blocks keyed by label. Every attribute is optional per file (a base file may supply it);
// what is required is checked once all layers are merged.
type Experiment struct {
	Name        string                `hcl:"name" doc:"run name; default: the experiment file name without extension"`
	Description string                `hcl:"description" doc:"free text shown by plan and in reports"`
	Model       Model                 `hcl:"model,block"`
	Data        Data                  `hcl:"data,block"`
	Optimizer   registry.Ref          `hcl:"optimizer,block" kind:"optimizer"`
	ParamGroups map[string]ParamGroup `hcl:"param_group,block" label:"name" doc:"parameter groups with their own learning rate, weight decay or freezing"`
	Scheduler   registry.Ref          `hcl:"scheduler,block" kind:"scheduler"`
	Loss        registry.Ref          `hcl:"loss,block" kind:"loss" doc:"training loss; default: multibox (the reference's MultiBox loss, hard negatives 3:1)"`
	Training    Training              `hcl:"training,block"`
	Evaluation  Evaluation            `hcl:"evaluation,block"`
	Output      Output                `hcl:"output,block"`
}

// SchedulerRef returns the scheduler block, or the constant schedule when there is none.
func (e *Experiment) SchedulerRef() registry.Ref { return orDefault(e.Scheduler, "constant") }

// LossRef returns the loss block, or the reference's MultiBox loss when there is none.
func (e *Experiment) LossRef() registry.Ref { return orDefault(e.Loss, "multibox") }

// orDefault returns ref, or a component of type typ with its default options when the
// block is absent.
func orDefault(ref registry.Ref, typ string) registry.Ref {
	if ref.Type == "" {
		ref.Type = typ
	}
	return ref
}

// Model is the detector: a backbone (base net and extra layers), a head and the anchors.
type Model struct {
	Backbone   registry.Ref `hcl:"backbone,block" kind:"backbone"`
	Head       registry.Ref `hcl:"head,block" kind:"head"`
	Anchors    registry.Ref `hcl:"anchors,block" kind:"anchors"`
	NumClasses int          `hcl:"num_classes" doc:"number of classes including BACKGROUND; default: from labels or the training dataset"`
	Labels     string       `hcl:"labels" doc:"labels file, one class name per line (BACKGROUND is added first when absent)"`
	Init       Init         `hcl:"init,block"`
}

// Init says where the initial weights come from (the reference's --base_net,
// --pretrained_ssd and --resume).
type Init struct {
	BaseNet    string `hcl:"base_net" doc:"state_dict of the base net only (e.g. ImageNet MobileNetV2)"`
	Pretrained string `hcl:"pretrained" doc:"state_dict of a whole SSD; heads are handled by on_class_mismatch"`
	// OnClassMismatch decides what happens to the heads when the pretrained model has
	// another number of classes.
	OnClassMismatch  string `hcl:"on_class_mismatch" doc:"reinit | subsample (keep the rows of classes present in both label sets)"`
	PretrainedLabels string `hcl:"pretrained_labels" doc:"labels file of the pretrained model (needed by subsample)"`
	// IgnoreKeys leaves keys of the base_net or pretrained file out (model.InitConfig).
	IgnoreKeys []string `hcl:"ignore_keys" doc:"keys of the base_net/pretrained file to leave out: globs (\"fc.*\") or module names (\"layer4\"), e.g. [\"layer4\", \"fc\"] for a whole torchvision resnet50"`
}

// Data configures the datasets and the loader.
type Data struct {
	Train        registry.Ref   `hcl:"train,block" kind:"dataset"`
	Validation   registry.Ref   `hcl:"validation,block" kind:"dataset"`
	Augmentation string         `hcl:"augmentation" doc:"registered transform applied to training images: ssd (the reference's TrainAugmentation), test (resize + normalise only); ignored when transform blocks give the chain"`
	Transforms   []registry.Ref `hcl:"transform,block" kind:"transform" ordered:"true" doc:"explicit training augmentation chain, applied in order (replaces augmentation)"`
	Mean         []float64      `hcl:"mean" doc:"per-channel (RGB) mean subtracted from pixels, 1 or 3 values"`
	Std          []float64      `hcl:"std" doc:"divisor applied after the mean, 1 or 3 values"`
	BatchSize    int            `hcl:"batch_size" doc:"images per training step"`
	Workers      int            `hcl:"workers" doc:"loader goroutines; 0 = one per CPU core"`
	Prefetch     int            `hcl:"prefetch" doc:"batches prepared ahead of the training step"`
	Shuffle      bool           `hcl:"shuffle" doc:"shuffle the training set every epoch"`
	OnBadSample  string         `hcl:"on_bad_sample" doc:"fail | skip (log each bad sample once and count it)"`
}

// ParamGroup is a set of top-level modules (e.g. "base_net", "extras") trained with their
// own settings. Parameters outside every group use the optimizer's settings.
type ParamGroup struct {
	Modules     []string `hcl:"modules" doc:"top-level modules of the model: base_net, source_layer_add_ons, extras, classification_headers, regression_headers"`
	LR          *float64 `hcl:"lr" doc:"learning rate; default: the optimizer's lr"`
	WeightDecay *float64 `hcl:"weight_decay" doc:"weight decay; default: the optimizer's weight_decay"`
	Freeze      bool     `hcl:"freeze" doc:"keep these parameters fixed"`
}

// Training is the loop's policy.
type Training struct {
	Epochs        int        `hcl:"epochs" json:"epochs" doc:"number of epochs"`
	ValidateEvery int        `hcl:"validate_every" json:"validate_every" doc:"validate every N epochs (and after the last one)"`
	Freeze        string     `hcl:"freeze" json:"freeze" doc:"none | base_net (the reference's --freeze_base_net) | all_but_heads (--freeze_net)"`
	Seed          int64      `hcl:"seed" json:"seed" doc:"seed of weight init, shuffling and augmentation"`
	Device        string     `hcl:"device" json:"device" doc:"cpu | cuda | cuda:N"`
	Threads       int        `hcl:"threads" json:"threads" doc:"libtorch intra-op threads; 0 = one per CPU core"`
	LogEvery      int        `hcl:"log_every" json:"log_every" doc:"log the running loss every N steps"`
	Resume        string     `hcl:"resume" json:"resume" doc:"checkpoint to resume from: a path, or auto (the newest in the run folder)"`
	Checkpoint    Checkpoint `hcl:"checkpoint,block" json:"checkpoint"`
	FrozenBN      string     `hcl:"frozen_batch_norm" json:"frozen_batch_norm" doc:"eval (default): frozen modules' batch norms use their running statistics and keep them; train: they normalise with batch statistics and their running statistics drift, as the reference's --freeze_net and --freeze_base_net do"`
	OnNonFinite   string     `hcl:"on_nonfinite" json:"on_nonfinite" doc:"fail (stop the run, naming the batch's images, keeping the last good checkpoint) | skip (skip the batch, up to max_nonfinite times)"`
	MaxNonFinite  int        `hcl:"max_nonfinite" json:"max_nonfinite" doc:"batches with a non-finite loss or gradient that on_nonfinite = \"skip\" may skip before the run stops"`
	ChannelsLast  bool       `hcl:"channels_last" json:"channels_last" doc:"lay the convolutions' kernels and inputs out channels-last (torch.channels_last), in which libtorch's oneDNN convolutions run without layout conversions: faster on CPU, the same model up to float32 rounding; in data-parallel runs too (default false: the reference's layout, bit for bit)"`
	ClipGradNorm  float64    `hcl:"clip_grad_norm" json:"clip_grad_norm" doc:"clip the gradients' global L2 norm to this value before each update (torch.nn.utils.clip_grad_norm_: every gradient scaled by max_norm / (norm + 1e-6) when that is below 1); 0 (default) = no clipping, as the reference"`
	SyncBN        bool       `hcl:"sync_batchnorm" json:"sync_batchnorm" doc:"data-parallel runs (--nproc, torchrun): batch norms in training mode normalise over the global batch of all ranks, exactly as one process with the whole batch would (torch's SyncBatchNorm); false (default): over each rank's own batch, as DDP does. No effect in a one-process run"`
}

// Checkpoint is the checkpoint policy.
type Checkpoint struct {
	Every    int    `hcl:"every" json:"every" doc:"save every N epochs; 0 = at each validation"`
	KeepLast int    `hcl:"keep_last" json:"keep_last" doc:"keep the newest N periodic checkpoints; 0 = keep all"`
	KeepBest bool   `hcl:"keep_best" json:"keep_best" doc:"also keep the best checkpoint by metric"`
	Metric   string `hcl:"metric" json:"metric" doc:"val_loss (lower is better) | map (higher is better)"`
}

// Evaluation configures validation metrics and post-processing.
type Evaluation struct {
	Metrics []registry.Ref `hcl:"metric,block" kind:"metric"`
	NMS     NMS            `hcl:"nms,block"`
}

// NMS configures post-processing of raw predictions (the reference's Predictor).
type NMS struct {
	Method         string  `hcl:"method" doc:"hard | soft (Gaussian)"`
	IoUThreshold   float64 `hcl:"iou_threshold" doc:"overlap above which a box is suppressed (hard) or decayed (soft)"`
	ScoreThreshold float64 `hcl:"score_threshold" doc:"per-class score below which candidates are dropped"`
	CandidateSize  int     `hcl:"candidate_size" doc:"top-scoring candidates kept per class before NMS"`
	TopK           int     `hcl:"top_k" doc:"detections kept per class after NMS (per image with class_agnostic), as the reference's predict(top_k); 0 = all"`
	Sigma          float64 `hcl:"sigma" doc:"Gaussian sigma of soft NMS"`
	ClassAgnostic  bool    `hcl:"class_agnostic" doc:"one NMS over all classes instead of one per class"`
}

// Output says where runs are written.
type Output struct {
	Dir string `hcl:"dir" doc:"parent folder of run folders; a run writes to <dir>/<name>"`
}

// Defaults returns the experiment every file starts from: the reference train_ssd.py /
// eval_ssd.py defaults where it has one.
func Defaults() Experiment {
	return Experiment{
		Model: Model{Init: Init{OnClassMismatch: "reinit"}},
		Data: Data{
			Augmentation: "ssd",
			Mean:         []float64{127, 127, 127},
			Std:          []float64{128},
			BatchSize:    32,
			Workers:      0,
			Prefetch:     2,
			Shuffle:      true,
			OnBadSample:  "fail",
		},
		Training: Training{
			Epochs:        120,
			ValidateEvery: 5,
			Freeze:        "none",
			Device:        "cpu",
			LogEvery:      100,
			Checkpoint:    Checkpoint{KeepLast: 3, KeepBest: true, Metric: "val_loss"},
			FrozenBN:      "eval",
			OnNonFinite:   "fail",
			MaxNonFinite:  10,
		},
		Evaluation: Evaluation{NMS: NMS{
			Method:         "hard",
			IoUThreshold:   0.45,
			ScoreThreshold: 0.01,
			CandidateSize:  200,
			Sigma:          0.5,
		}},
		Output: Output{Dir: "runs"},
	}
}
