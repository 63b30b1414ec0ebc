# want: milestones_inf.hcl:15:
# want: element 0: expected a finite number, got +Inf
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
  milestones = [1/0]
}
