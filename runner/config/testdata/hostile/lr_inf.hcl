# want: lr_inf.hcl:12:
# want: expected a finite number, got +Inf
model {
  backbone "mobilenet_v1" {}
  head "ssd" {}
  anchors "ssd_spec" {}
}
data {
  train "shapes" {}
}
optimizer "sgd" {
  lr = 1/0
}
