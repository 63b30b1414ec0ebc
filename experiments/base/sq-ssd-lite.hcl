# sq-ssd-lite of the PyTorch SSD project: SqueezeNet base net, separable extras, SSD-Lite heads without batch norm (ReLU), squeezenet priors (300x300, 2568).
# Pixels are normalised as (x - 127) / 128. Inherit it with: inherits = "builtin:sq-ssd-lite".
inherits = "ssd-sgd.hcl"

model {
  backbone "squeezenet" {}
  head "ssd_lite" {
    batch_norm = false
    activation = "relu"
  }
  anchors "ssd_spec" {
    preset = "squeezenet"
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
