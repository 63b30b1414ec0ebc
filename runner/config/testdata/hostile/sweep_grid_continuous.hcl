# want: error: Continuous range in a grid
# want: points = 4

sweep {
  param "optimizer.lr" {
    uniform = [0.001, 0.1]
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
