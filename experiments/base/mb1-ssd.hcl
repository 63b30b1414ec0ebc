# mb1-ssd of the PyTorch SSD project: MobileNetV1 base net, SSD extras and 3x3 heads,
# mobilenetv1_ssd_config priors (300x300, 3000 priors), pixels normalised as (x-127)/128.
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
