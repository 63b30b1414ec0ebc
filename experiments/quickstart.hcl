# The built-in default: an experiment that needs no downloads and trains in minutes on a
# 2-core CPU. MobileNetV1 at half width with SSD-Lite heads, trained from scratch on the
# built-in synthetic shapes dataset (its default difficulty: textured backgrounds, clutter,
# low-contrast objects, noise) with AdamW and a cosine schedule. `make run` trains it.
#   runner apply experiments/quickstart.hcl
#   runner apply experiments/quickstart.hcl --set training.epochs=2 -var lr=0.001
#
# Recipe choices, each measured against the reference-style recipe (SGD lr 0.01, the full
# TrainAugmentation, MobileNetV1 x0.25 at 300 pixels, the reference's 60-pixel smallest
# prior), which reached VOC07 mAP 0.004 after 4 epochs; this one reaches 0.591 (README):
#   - half width instead of a quarter (twice the step time, much faster learning);
#   - the "fused" stem: base_net.1 is one dense 3x3 convolution of stride 2 instead of the
#     reference's depthwise-separable block at 112x112 (same feature maps): 0.399 against
#     0.328 with the reference's block, in the same time;
#   - a stride-8 map (source_layers [6, 12, 14], 28x28, priors from 13 pixels) for the
#     smallest shapes, which the 14x14 map found and named worst: 0.498 against 0.399,
#     for 5 % more time per image;
#   - 224 pixels instead of 300: at equal time, more images seen for the same mAP;
#   - 6,144 generated training images, each seen 5 times: at equal steps, 1,024 images seen
#     24 times overfit (0.298 against 0.33); 5 epochs instead of 4 (the time that malloc's
#     new policy saved, and 15 % more): 0.583 against 0.498 (without clipping);
#   - priors from 13 pixels: the shapes are 10-50 % of the image's shorter side (13 to 112
#     pixels after the resize), so the reference's smallest prior (60 px at 300) leaves the
#     small ones to forced matches;
#   - light augmentation (mirror, resize): zoom-out and random crops slow learning
#     down more than they help at this budget;
#   - AdamW at lr 0.01 with half an epoch of warmup, the gradients' norm clipped to 10
#     (training.clip_grad_norm): at this rate one seed in three had a loss spike early in
#     epoch 2 that cost it 0.15 mAP;
#   - priors matched to boxes above IoU 0.2 instead of the reference's 0.5 (loss block):
#     each shape gets several positive priors instead of one or two, and the classifier
#     learns to tell the shapes apart from many more examples per image (0.156 against
#     0.048 at 8 epochs of an earlier recipe).
description = "MobileNetV1 x0.5 (fused stem, stride-8 map) SSD-Lite on synthetic shapes"

variable "lr" {
  type    = number
  default = 0.01
}

model {
  backbone "mobilenet_v1" {
    width_mult = 0.5
    extras     = "ssd_lite"
    stem       = "fused"
    # base_net[:6] (stride 8) as a first feature map, for the smallest shapes
    source_layers = [6, 12, 14]
  }
  head "ssd_lite" {}
  anchors "ssd_spec" {
    image_size = 224
    spec {
      feature_map_size = 28
      shrinkage        = 8
      min_size         = 13
      max_size         = 22
      aspect_ratios    = [2]
    }
    spec {
      feature_map_size = 14
      shrinkage        = 16
      min_size         = 22
      max_size         = 45
      aspect_ratios    = [2, 3]
    }
    spec {
      feature_map_size = 7
      shrinkage        = 32
      min_size         = 45
      max_size         = 78
      aspect_ratios    = [2, 3]
    }
    spec {
      feature_map_size = 4
      shrinkage        = 56
      min_size         = 78
      max_size         = 112
      aspect_ratios    = [2, 3]
    }
    spec {
      feature_map_size = 2
      shrinkage        = 112
      min_size         = 112
      max_size         = 146
      aspect_ratios    = [2, 3]
    }
    spec {
      feature_map_size = 1
      shrinkage        = 224
      min_size         = 146
      max_size         = 179
      aspect_ratios    = [2, 3]
    }
    spec {
      feature_map_size = 1
      shrinkage        = 224
      min_size         = 179
      max_size         = 224
      aspect_ratios    = [2, 3]
    }
  }
}

data {
  train "shapes" {
    count = 6144
    seed  = 1
  }
  validation "shapes" {
    count = 200
    seed  = 2
  }
  transform "hflip" {}
  transform "resize" {
    size = 224
  }
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
  t_max    = 5
  per_step = true
  warmup {
    epochs = 0.5
  }
}

training {
  epochs         = 5
  validate_every = 1
  clip_grad_norm = 10
  seed           = 0
  log_every      = 16
  channels_last  = true
}
