# mb1-ssd-lite of the PyTorch SSD project: MobileNetV1 base net, separable extras, SSD-Lite heads without batch norm (ReLU), mobilenet priors (300x300, 3000).
# Pixels are normalised as (x - 127) / 128. Inherit it with: inherits = "builtin:mb1-ssd-lite".
inherits = "ssd-sgd.hcl"

model {
  backbone "mobilenet_v1" {
    extras = "ssd_lite"
  }
  head "ssd_lite" {
    batch_norm = false
    activation = "relu"
  }
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
