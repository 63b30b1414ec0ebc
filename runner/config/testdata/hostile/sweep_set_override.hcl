# set: sweep.trials=3
# want: --set sweep.trials=3: unknown key "sweep"

sweep {
  param "optimizer.lr" {
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
