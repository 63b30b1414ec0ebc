# The built-in default: an experiment that needs no downloads and trains in minutes on a
# 2-core CPU. MobileNetV1 at half width with SSD-Lite heads, trained from scratch on the
# built-in synthetic shapes dataset (its default difficulty: textured backgrounds, clutter,
# low-contrast objects, noise) with AdamW and a cosine schedule. `make run` trains it.
#   runner apply experiments/quickstart.hcl
#   runner apply experiments/quickstart.hcl --set training.epochs=2 -var lr=0.001
#
# Recipe choices, each measured against the reference-style recipe (SGD lr 0.01, the full
# TrainAugmentation, MobileNetV1 x0.25, the reference's 60-pixel smallest prior), which
# reached VOC07 mAP 0.004 after 4 epochs where this one reaches 0.154 and 0.213 after 8:
#   - half width instead of a quarter (twice the step time, much faster learning);
#   - priors from 30 pixels at the 19x19 map: the shapes are 10–50 % of the image side,
#     so the reference's smallest prior (60 px) leaves the small ones to forced matches;
#   - light augmentation (mirror, resize): zoom-out and random crops slow learning
#     down more than they help at this budget;
#   - AdamW with half an epoch of warmup;
#   - priors matched to boxes above IoU 0.2 instead of the reference's 0.5 (loss block):
#     each shape gets several positive priors instead of one or two, and the classifier
#     learns to tell the shapes apart from many more examples per image. Same machine, 8
#     epochs, lr 0.003: mAP 0.048 at 0.5, 0.104 at 0.35, 0.130 at 0.25, 0.156 at 0.2,
#     0.129 at 0.15;
#   - with those positives, AdamW at lr 0.01 (0.003 before): 0.213 after 8 epochs against
#     0.206 at 0.006 and 0.156 at 0.003 (at the reference's matching, 0.01 had not helped).
description = "MobileNetV1 x0.5 SSD-Lite on synthetic shapes"

variable "lr" {
  type    = number
  default = 0.01
}

model {
  backbone "mobilenet_v1" {
    width_mult = 0.5
    extras     = "ssd_lite"
  }
  head "ssd_lite" {}
  anchors "ssd_spec" {
    spec {
      feature_map_size = 19
      shrinkage        = 16
      min_size         = 30
      max_size         = 60
      aspect_ratios    = [2, 3]
    }
    spec {
      feature_map_size = 10
      shrinkage        = 32
      min_size         = 60
      max_size         = 105
      aspect_ratios    = [2, 3]
    }
    spec {
      feature_map_size = 5
      shrinkage        = 64
      min_size         = 105
      max_size         = 150
      aspect_ratios    = [2, 3]
    }
    spec {
      feature_map_size = 3
      shrinkage        = 100
      min_size         = 150
      max_size         = 195
      aspect_ratios    = [2, 3]
    }
    spec {
      feature_map_size = 2
      shrinkage        = 150
      min_size         = 195
      max_size         = 240
      aspect_ratios    = [2, 3]
    }
    spec {
      feature_map_size = 1
      shrinkage        = 300
      min_size         = 240
      max_size         = 300
      aspect_ratios    = [2, 3]
    }
  }
}

data {
  train "shapes" {
    count = 1024
    seed  = 1
  }
  validation "shapes" {
    count = 200
    seed  = 2
  }
  transform "hflip" {}
  transform "resize" {}
  transform "normalize" {}
  mean       = [127, 127, 127]
  std        = [128]
  batch_size = 16
}

optimizer "adamw" {
  lr           = var.lr
  weight_decay = 5e-4
}

loss "multibox" {
  match_iou = 0.2
}

scheduler "cosine" {
  t_max    = 8
  per_step = true
  warmup {
    epochs = 0.5
  }
}

training {
  epochs         = 8
  validate_every = 2
  seed           = 0
  log_every      = 16
}
