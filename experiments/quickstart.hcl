# A small experiment that needs no downloads: MobileNetV1 at a quarter of its width with
# SSD-Lite heads, on the built-in synthetic shapes dataset. `make run` plans it.
#   runner plan experiments/quickstart.hcl
#   runner plan experiments/quickstart.hcl --set training.epochs=2 -var lr=0.05
inherits = "base/ssd-sgd.hcl"

description = "MobileNetV1 x0.25 SSD-Lite on synthetic shapes"

variable "lr" {
  type    = number
  default = 0.01
}

model {
  backbone "mobilenet_v1" {
    width_mult = 0.25
    extras     = "ssd_lite"
  }
  head "ssd_lite" {}
  anchors "ssd_spec" {
    preset = "mobilenet"
  }
}

data {
  train "shapes" {
    count = 512
    seed  = 1
  }
  validation "shapes" {
    count = 128
    seed  = 2
  }
  mean       = [127, 127, 127]
  std        = [128]
  batch_size = 16
}

scheduler "cosine" {
  t_max = 20
}

training {
  epochs         = 20
  validate_every = 2
  seed           = 0
}
