# mb2-ssd-lite of the PyTorch SSD project: MobileNetV2 (width 1.0, ReLU6), inverted-residual extras, SSD-Lite heads, mobilenet priors (300x300, 3000).
# Pixels are normalised as (x - 127) / 128. Inherit it with: inherits = "builtin:mb2-ssd-lite".
inherits = "ssd-sgd.hcl"

model {
  backbone "mobilenet_v2" {
    width_mult = 1.0
    activation = "relu6"
  }
  head "ssd_lite" {}
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
