# want: mean_inf.hcl:10:
# want: element 1: expected a finite number, got +Inf
model {
  backbone "mobilenet_v1" {}
  head "ssd" {}
  anchors "ssd_spec" {}
}
data {
  train "shapes" {}
  mean = [127, 1/0, 127]
}
optimizer "sgd" {
  lr = 0.01
}
