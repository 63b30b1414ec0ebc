// Package torch holds the project's thin layer over gotch: thread settings, the tensor
// Scope that makes freeing intermediates hard to forget, Recover (the one way a libtorch
// failure becomes an error value, see recover.go), and small helpers shared by the
// components.
package torch
