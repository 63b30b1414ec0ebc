# want: error: Sweep without params

sweep {
  method = "grid"
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
