# set: scheduler.milestones=[1e20]
# want: --set scheduler.milestones=[1e20]
# want: element 0: 1e+20 is out of range for a whole number
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
