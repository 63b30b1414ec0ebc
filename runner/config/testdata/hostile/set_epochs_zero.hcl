# set: training.epochs=0
# want: error: Invalid value for epochs
# want: training.epochs must be greater than 0, got 0. (set by --set training.epochs=0)
# not: :1:1:
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
