# Pascal VOC 2007+2012 trainval for training, VOC2007 test for validation: the layout the
# PyTorch SSD project's README uses (~/data/VOC0712/{VOC2007,VOC2012,test/VOC2007}).
# Set the root with -var voc_root=/path or RUNNER_VAR_voc_root=/path.

variable "voc_root" {
  type        = string
  default     = "~/data/VOC0712"
  description = "folder holding VOC2007/, VOC2012/ and test/VOC2007/"
}

locals {
  voc = pathexpand(var.voc_root)
}

data {
  train "voc" {
    roots = ["${local.voc}/VOC2007", "${local.voc}/VOC2012"]
    split = "trainval"
  }
  validation "voc" {
    roots = ["${local.voc}/test/VOC2007"]
    split = "test"
  }
}
