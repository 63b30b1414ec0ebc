# want: inherits_dev_zero.hcl:3:12: error: Cannot read experiment file
# want: /dev/zero: a device, not a regular file
inherits = "/dev/zero"
