# want: milestones_huge.hcl:15:
# want: element 1: 1e+20 is out of range for a whole number
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
  milestones = [80, 1e20]
}
