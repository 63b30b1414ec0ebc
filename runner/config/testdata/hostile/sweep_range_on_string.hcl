# want: a uniform range needs a numeric key, and this one is a string
# want: sweep_range_on_string.hcl:8:5:

sweep {
  method = "random"
  trials = 2
  param "training.freeze" {
    uniform = [0, 1]
  }
}
model {
  backbone "mobilenet_v1" {}
  head "ssd" {}
  anchors "ssd_spec" {}
}
data {
  train "shapes" {}
}
optimizer "sgd" {
  lr = 0.01
}
