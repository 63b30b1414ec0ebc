# A small detector for the tests and the example: MobileNetV1 x0.25 SSD-Lite, two classes.
inherits = "builtin:mb1-ssd-lite"

model {
  backbone "mobilenet_v1" {
    width_mult = 0.25
  }
  labels = "${path.experiment}/labels.txt"
}
