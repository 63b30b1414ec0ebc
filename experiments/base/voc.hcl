# Pascal VOC 2007+2012 trainval for training, VOC2007 test for validation (set -var voc_root=…).
# The layout of the reference README: <voc_root>/{VOC2007,VOC2012,test/VOC2007}; set voc_root with -var voc_root=/path or RUNNER_VAR_voc_root.

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
