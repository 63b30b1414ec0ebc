# want: error: Unknown early-stopping rule
# want: Did you mean "median"?
# want: sweep_rule_typo.hcl:9:18:

sweep {
  param "optimizer.lr" {
    values = [0.01, 0.1]
  }
  early_stopping "medain" {
  }
}
model {
  backbone "mobilenet_v1" {}
  head "ssd" {}
  anchors "ssd_spec" {}
}
data {
  train "shapes" {}
}
optimizer "sgd" {
  lr = 0.01
}
