# The resolved experiment of this run (every default, inherited value and override applied).
description = "MobileNetV1 x0.5 SSD-Lite on synthetic shapes"
name        = "quickstart"
model {
  labels      = ""
  num_classes = 0
  backbone "mobilenet_v1" {
    extras     = "ssd_lite"
    width_mult = 0.5
  }
  head "ssd_lite" {
  }
  anchors "ssd_spec" {
    spec {
      aspect_ratios    = [2, 3]
      feature_map_size = 19
      max_size         = 60
      min_size         = 30
      shrinkage        = 16
    }
    spec {
      aspect_ratios    = [2, 3]
      feature_map_size = 10
      max_size         = 105
      min_size         = 60
      shrinkage        = 32
    }
    spec {
      aspect_ratios    = [2, 3]
      feature_map_size = 5
      max_size         = 150
      min_size         = 105
      shrinkage        = 64
    }
    spec {
      aspect_ratios    = [2, 3]
      feature_map_size = 3
      max_size         = 195
      min_size         = 150
      shrinkage        = 100
    }
    spec {
      aspect_ratios    = [2, 3]
      feature_map_size = 2
      max_size         = 240
      min_size         = 195
      shrinkage        = 150
    }
    spec {
      aspect_ratios    = [2, 3]
      feature_map_size = 1
      max_size         = 300
      min_size         = 240
      shrinkage        = 300
    }
  }
  init {
    base_net          = ""
    ignore_keys       = []
    on_class_mismatch = "reinit"
    pretrained        = ""
    pretrained_labels = ""
  }
}
data {
  augmentation  = "ssd"
  batch_size    = 16
  mean          = [127, 127, 127]
  on_bad_sample = "fail"
  prefetch      = 2
  shuffle       = true
  std           = [128]
  workers       = 0
  train "shapes" {
    count = 1024
    seed  = 1
  }
  validation "shapes" {
    count = 200
    seed  = 2
  }
  transform "hflip" {
  }
  transform "resize" {
  }
  transform "normalize" {
  }
}
optimizer "adamw" {
  lr           = 0.003
  weight_decay = 0.0005
}
scheduler "cosine" {
  per_step = true
  t_max    = 8
  warmup {
    epochs = 0.5
  }
}
training {
  device            = "cpu"
  epochs            = 8
  freeze            = "none"
  frozen_batch_norm = "eval"
  log_every         = 16
  max_nonfinite     = 10
  on_nonfinite      = "fail"
  resume            = ""
  seed              = 0
  threads           = 0
  validate_every    = 2
  checkpoint {
    every     = 0
    keep_best = true
    keep_last = 3
    metric    = "val_loss"
  }
}
evaluation {
  nms {
    candidate_size  = 200
    class_agnostic  = false
    iou_threshold   = 0.45
    method          = "hard"
    score_threshold = 0.01
    sigma           = 0.5
    top_k           = 0
  }
}
output {
  dir = "runs"
}
