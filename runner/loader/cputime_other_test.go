//go:build !linux

package loader

// processCPU is unknown outside Linux.
func processCPU() int64 { return 0 }

// threadCPU is unknown outside Linux.
func threadCPU() int64 { return 0 }
