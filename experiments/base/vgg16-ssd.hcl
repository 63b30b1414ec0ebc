# vgg16-ssd of the PyTorch SSD project: VGG16 (reduced fc, BatchNorm on conv4_3), SSD extras and 3x3 heads, vgg priors (300x300, 8732).
# Pixels are normalised as x - [123, 117, 104]. Inherit it with: inherits = "builtin:vgg16-ssd".
inherits = "ssd-sgd.hcl"

model {
  backbone "vgg16" {
    norm = "batch_norm"
  }
  head "ssd" {}
  anchors "ssd_spec" {
    preset = "vgg"
  }
}

param_group "extras" {
  modules = ["source_layer_add_ons", "extras"]
  lr      = var.extra_layers_lr
}

data {
  mean = [123, 117, 104]
  std  = [1]
}
