// Package torch holds the project's thin layer over gotch: thread settings, the tensor
// Scope that makes freeing intermediates hard to forget, and small helpers shared by the
// components.
package torch
