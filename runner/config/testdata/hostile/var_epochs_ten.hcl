# var: epochs=ten
# want: -var epochs=ten: "ten" is not a number.
# not: Variables may not be used here
# not: No value for required variable
variable "epochs" {
  type = number
}
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
  epochs = var.epochs
}
