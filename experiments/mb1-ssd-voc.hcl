# The PyTorch SSD project's MobileNetV1 SSD VOC recipe (mobilenet-v1-ssd-mp-0_675.pth,
# VOC2007 test mAP 0.6755):
#   train_ssd.py --datasets VOC2007 VOC2012 --validation_dataset test/VOC2007 --net mb1-ssd
#     --base_net models/mobilenet_v1_with_relu_69_5.pth --batch_size 24 --num_epochs 200
#     --scheduler cosine --lr 0.01 --t_max 200
inherits = ["base/mb1-ssd.hcl", "base/voc.hcl"]

variable "lr" {
  type    = number
  default = 0.01
}

model {
  init {
    base_net = "models/mobilenet_v1_with_relu_69_5.pth"
  }
}

data {
  batch_size = 24
  workers    = 4
}

scheduler "cosine" {
  t_max = 200
}

training {
  epochs = 200
}
