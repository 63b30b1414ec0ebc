# The tiny learning-rate sweep of `make test-cluster` (and of the CI sweep test's shape): the
# quickstart shortened to 2 epochs on 16 training and 8 validation images, 3 log-spaced
# learning rates, median early stopping from epoch 1.
inherits = "../../experiments/quickstart.hcl"

data {
  train "shapes" {
    count = 16
    seed  = 1
  }
  validation "shapes" {
    count = 8
    seed  = 2
  }
  batch_size = 8
}

scheduler "cosine" {
  t_max    = 2
  per_step = true
  warmup {
    epochs = 0.5
  }
}

training {
  epochs         = 2
  validate_every = 1
  log_every      = 1
}

sweep {
  name   = "lr"
  method = "grid"
  metric = "best_map"

  param "optimizer.lr" {
    log_uniform = [1e-3, 1e-2]
    points      = 3
  }

  early_stopping "median" {
    grace_epochs = 1
    min_trials   = 2
  }
}
