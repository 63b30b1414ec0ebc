# want: both ends must be greater than 0
# want: sweep_log_nonpositive.hcl:8:19:

sweep {
  method = "random"
  trials = 2
  param "optimizer.lr" {
    log_uniform = [0, 0.1]
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
