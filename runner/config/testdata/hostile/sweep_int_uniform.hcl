# want: param "data.batch_size" is a whole number: use int_range = [8, 32]

sweep {
  method = "random"
  trials = 3
  param "data.batch_size" {
    uniform = [8, 32]
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
