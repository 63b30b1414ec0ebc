# The PyTorch SSD project's VGG16 SSD VOC recipe (vgg16-ssd-mp-0_7726.pth, VOC2007 test
# mAP 0.7726):
#   train_ssd.py --datasets VOC2007 VOC2012 --validation_dataset test/VOC2007 --net vgg16-ssd
#     --base_net models/vgg16_reducedfc.pth --batch_size 24 --num_epochs 200
#     --scheduler multi-step --milestones 120,160
# (--lr is train_ssd.py's default 1e-3, gamma 0.1).
inherits = ["base/vgg16-ssd.hcl", "base/voc.hcl"]

model {
  init {
    base_net = "models/vgg16_reducedfc.pth"
  }
}

data {
  batch_size = 24
  workers    = 4
}

scheduler "multi_step" {
  milestones = [120, 160]
  gamma      = 0.1
}

training {
  epochs = 200
}
