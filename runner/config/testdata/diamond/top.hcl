inherits = ["l1a.hcl", "l1b.hcl"]
