//go:build !linux

package sysmon

func idle() (Result, error) {
	return Result{Reason: "only on Linux"}, nil
}
