# want: milestones_fraction.hcl:15:
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
  milestones = [80.5, 100]
}
