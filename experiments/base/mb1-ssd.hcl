# mb1-ssd of the PyTorch SSD project: MobileNetV1 base net, SSD extras and 3x3 heads, mobilenet priors (300x300, 3000).
# Pixels are normalised as (x - 127) / 128. Inherit it with: inherits = "builtin:mb1-ssd".
inherits = "ssd-sgd.hcl"

model {
  backbone "mobilenet_v1" {
    extras = "ssd"
  }
  head "ssd" {}
  anchors "ssd_spec" {
    preset = "mobilenet"
  }
}

param_group "extras" {
  modules = ["extras"]
  lr      = var.extra_layers_lr
}

data {
  mean = [127, 127, 127]
  std  = [128]
}
