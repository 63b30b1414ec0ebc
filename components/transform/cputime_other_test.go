//go:build !linux

package transform

// threadCPU is unknown outside Linux.
func threadCPU() int64 { return 0 }
