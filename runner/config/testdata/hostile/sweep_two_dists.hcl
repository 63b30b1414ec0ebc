# want: needs exactly one of values, uniform, log_uniform, int_range; it has 2.
# want: sweep_two_dists.hcl:7:5:

sweep {
  param "optimizer.lr" {
    values  = [0.01]
    uniform = [0.01, 0.1]
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
