# The PyTorch SSD project's MobileNetV2 SSD-Lite VOC recipe (mb2-ssd-lite-mp-0_686.pth,
# VOC2007 test mAP 0.686):
#   train_ssd.py --dataset_type voc --datasets VOC2007 VOC2012 --validation_dataset test/VOC2007
#     --net mb2-ssd-lite --base_net models/mb2-imagenet-71_8.pth --scheduler cosine --lr 0.01
#     --t_max 200 --validation_epochs 5 --num_epochs 200
# (batch size, momentum, weight decay and workers are train_ssd.py's defaults: 32, 0.9, 5e-4, 4).
inherits = ["base/mb2-ssd-lite.hcl", "base/voc.hcl"]

variable "lr" {
  type    = number
  default = 0.01
}

model {
  init {
    base_net = "models/mb2-imagenet-71_8.pth"
  }
}

data {
  batch_size = 32
  workers    = 4
}

scheduler "cosine" {
  t_max = 200
}

training {
  epochs         = 200
  validate_every = 5
  # libtorch's oneDNN convolutions on channels-last tensors (PyTorch's channels_last memory
  # format): the same model up to float32 rounding, about 1.2-1.4x faster on CPU than the
  # default layout; set it to false for the reference's own kernels.
  channels_last = true
}
