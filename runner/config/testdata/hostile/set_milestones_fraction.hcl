# set: scheduler.milestones=[80.5, 100]
# want: --set scheduler.milestones=[80.5, 100]
# want: element 0: expected a whole number, got 80.5
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
scheduler "multi_step" {
  milestones = [80, 100]
}
