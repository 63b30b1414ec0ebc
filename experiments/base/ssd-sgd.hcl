# Training defaults of the PyTorch SSD project's train_ssd.py: SGD, momentum 0.9, weight decay 5e-4, per-group learning rates.
# --lr is var.lr; --base_net_lr and --extra_layers_lr default to it, and the prediction heads use it.

variable "lr" {
  type    = number
  default = 0.001
}

variable "base_net_lr" {
  type        = number
  default     = null
  description = "learning rate of the base net (the reference's --base_net_lr); default: lr"
}

variable "extra_layers_lr" {
  type        = number
  default     = null
  description = "learning rate of the extra layers (--extra_layers_lr); default: lr"
}

optimizer "sgd" {
  lr           = var.lr
  momentum     = 0.9
  weight_decay = 5e-4
}

param_group "base_net" {
  modules = ["base_net"]
  lr      = var.base_net_lr
}

training {
  validate_every = 5
  log_every      = 100
  checkpoint {
    metric = "val_loss"
  }
}
