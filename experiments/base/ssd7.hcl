# SSD7 of the Keras SSD project: a small 7-layer conv+BN+ELU network for small datasets, 3x3 heads on layers 4-7, its anchors at 300x300 (7160).
# Pixels are normalised as (x - 127.5) / 127.5. Keras builds it for 300x480 images; here images are square, 300x300. Inherit it with: inherits = "builtin:ssd7".
inherits = "ssd-sgd.hcl"

# Keras trains it with Adam (lr 1e-3) and L2 regularisation 5e-4, and encodes boxes with
# variances 1 (this project's matcher uses 0.1 and 0.2).
model {
  backbone "ssd7" {
    batch_norm = "keras"
  }
  head "ssd" {}
  # Keras' ssd7_training defaults: scales 0.08…0.96, aspect ratios 0.5, 1 and 2 with two
  # boxes for ratio 1 (aspect_ratios = [2] gives the same four boxes per location, in
  # another order), centres spread evenly ((i + 0.5) / size: steps and offsets None), no
  # clipping.
  anchors "min_max_scale" {
    image_size = 300
    scales     = [0.08, 0.16, 0.32, 0.64, 0.96]
    clip       = false
    layer {
      feature_map_size = 37
      aspect_ratios    = [2]
    }
    layer {
      feature_map_size = 18
      aspect_ratios    = [2]
    }
    layer {
      feature_map_size = 9
      aspect_ratios    = [2]
    }
    layer {
      feature_map_size = 4
      aspect_ratios    = [2]
    }
  }
}

param_group "extras" {
  modules = ["extras"]
  lr      = var.extra_layers_lr
}

data {
  mean = [127.5, 127.5, 127.5]
  std  = [127.5]
}
