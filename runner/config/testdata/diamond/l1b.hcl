inherits = ["l2a.hcl", "l2b.hcl"]
