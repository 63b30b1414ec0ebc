# want: sweep.method = "grdi"; expected one of: grid, random. Did you mean "grid"?
# want: sweep_method_typo.hcl:5:12:

sweep {
  method = "grdi"
  param "optimizer.lr" {
    values = [0.01]
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
