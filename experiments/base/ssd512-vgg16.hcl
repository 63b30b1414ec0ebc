# SSD512 of the SSD paper (and the Keras ssd512): VGG16 (reduced fc, L2Norm on conv4_3), five SSD extras, 3x3 heads, SSD512 priors (512x512, 24564).
# Pixels are normalised as x - [123, 117, 104]; the input is 512x512 (the anchors' image_size). Inherit it with: inherits = "builtin:ssd512-vgg16".
inherits = "ssd-sgd.hcl"

model {
  backbone "vgg16_512" {
    norm = "l2"
  }
  head "ssd" {}
  # The paper's SSD512 priors: scales 0.07, 0.15, 0.3 … 1.05, steps 8 … 512, boxes per
  # location 4, 6, 6, 6, 6, 4, 4; not clipped (Caffe's and Keras' clip = false).
  anchors "min_max_scale" {
    preset = "ssd512"
    clip   = false
  }
}

param_group "extras" {
  modules = ["source_layer_add_ons", "extras"]
  lr      = var.extra_layers_lr
}

data {
  mean = [123, 117, 104]
  std  = [1]
}
