# want: error: Invalid sweep value
# want: sweep_bad_value.hcl:7:18:
# want: expected a whole number, got 2.5

sweep {
  param "training.epochs" {
    values = [2, 2.5]
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
