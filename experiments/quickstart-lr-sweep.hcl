# A learning-rate sweep over the quickstart: eight AdamW learning rates drawn log-uniformly
# between 3e-4 and 1e-2, each trained as its own run folder under
# runs/quickstart-lr-sweep/lr/, trials whose mAP falls below the median of the others at
# the same epoch stopped after their second validation, then ranked by their best mAP.
#   runner apply experiments/quickstart-lr-sweep.hcl                 # one trial after another
#   runner apply experiments/quickstart-lr-sweep.hcl --parallel 2    # two at a time, cores split
#   runner sweep emit --to slurm experiments/quickstart-lr-sweep.hcl --out lr.sbatch
inherits = "quickstart.hcl"

sweep {
  name   = "lr"
  method = "random"
  trials = 8
  seed   = 1
  metric = "best_map"

  param "optimizer.lr" {
    log_uniform = [3e-4, 1e-2]
  }

  early_stopping "median" {
    grace_epochs = 2
    min_trials   = 3
  }
}
