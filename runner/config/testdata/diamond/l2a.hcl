inherits = ["bad.hcl"]
