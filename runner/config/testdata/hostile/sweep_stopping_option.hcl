# want: reduction_factor does not apply to the median rule (its settings: grace_epochs, min_trials).

sweep {
  param "optimizer.lr" {
    values = [0.01, 0.1]
  }
  early_stopping "median" {
    reduction_factor = 2
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
