# want: error: Invalid sweep param
# want: sweep_unknown_key.hcl:6:9:
# want: did you mean "lr"

sweep {
  param "optimizer.lrr" {
    values = [0.01, 0.1]
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
