# SSD-ResNet50 of NVIDIA's SSD300 v1.1 (DeepLearningExamples): ResNet-50 to layer3 at stride 1, conv+BN+ReLU extras, 3x3 heads, SSD300 priors (300x300, 8732).
# ImageNet normalisation (torchvision's mean and std on the 0-255 scale); init.base_net takes a torchvision resnet50 state_dict as it is (ignore_keys leaves out its layer4 and fc) or cut to conv1, bn1 and layer1-3. Inherit it with: inherits = "builtin:ssd-resnet50".
inherits = "ssd-sgd.hcl"

# NVIDIA trains it with SGD (momentum 0.9, weight decay 5e-4, lr 2.6e-3 for a batch of 32,
# 65 epochs, lr x0.1 at epochs 43 and 54) on COCO; set those in the experiment.
model {
  backbone "resnet50" {
    extras_init = "xavier_uniform"
  }
  head "ssd" {}
  # An ImageNet resnet50 file (torchvision's, e.g. resnet50-0676ba61.pth) as init.base_net:
  # the backbone stops at layer3, so its layer4 and fc are left out.
  init {
    ignore_keys = ["layer4", "fc"]
  }
  # NVIDIA's dboxes300_coco: figsize 300, feature maps 38, 19, 10, 5, 3, 1, steps 8…300,
  # scales [21, 45, 99, 153, 207, 261, 315] / 300, boxes per location 4, 6, 6, 6, 4, 4.
  # Same boxes; NVIDIA orders a map's priors box-major (ours: location-major, as the heads
  # flatten) and clamps centres to 1 (the 10x10 map's last row and column: 1.0133 here).
  anchors "min_max_scale" {
    image_size = 300
    scales     = [0.07, 0.15, 0.33, 0.51, 0.69, 0.87, 1.05]
    clip       = true
    layer {
      feature_map_size = 38
      step             = 8
      aspect_ratios    = [2]
    }
    layer {
      feature_map_size = 19
      step             = 16
      aspect_ratios    = [2, 3]
    }
    layer {
      feature_map_size = 10
      step             = 32
      aspect_ratios    = [2, 3]
    }
    layer {
      feature_map_size = 5
      step             = 64
      aspect_ratios    = [2, 3]
    }
    layer {
      feature_map_size = 3
      step             = 100
      aspect_ratios    = [2]
    }
    layer {
      feature_map_size = 1
      step             = 300
      aspect_ratios    = [2]
    }
  }
}

param_group "extras" {
  modules = ["extras"]
  lr      = var.extra_layers_lr
}

data {
  mean = [123.675, 116.28, 103.53]
  std  = [58.395, 57.12, 57.375]
}
