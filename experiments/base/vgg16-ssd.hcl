# vgg16-ssd of the PyTorch SSD project: VGG16 with reduced fc layers, BatchNorm on conv4_3
# (its ONNX-friendly variant), SSD extras and 3x3 heads, vgg_ssd_config priors (300x300,
# 8732 priors), pixels normalised as x - [123, 117, 104].
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
