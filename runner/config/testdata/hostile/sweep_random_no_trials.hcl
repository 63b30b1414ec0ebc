# want: A random sweep needs a budget
# want: sweep_random_no_trials.hcl:4:1:

sweep {
  method = "random"
  param "optimizer.lr" {
    log_uniform = [0.001, 0.1]
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
