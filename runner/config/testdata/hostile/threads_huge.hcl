# want: threads_huge.hcl:15:13: error: Invalid value for threads
# want: is more than the
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
training {
  threads = 100000
}
