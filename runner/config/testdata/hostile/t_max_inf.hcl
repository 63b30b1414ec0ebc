# want: t_max_inf.hcl:15:
# want: expected a finite number, got -Inf
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
scheduler "cosine" {
  t_max = -1/0
}
