package dataset

// Exported for the external tests of this package (voc_write_shapes_test.go, which uses the
// shapes sub-package: that imports dataset, so only an external test can import it).
var MeanAbsDiff = meanAbsDiff

const VOCJPEGQuality = vocJPEGQuality
