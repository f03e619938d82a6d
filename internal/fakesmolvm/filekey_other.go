//go:build !linux

package fakesmolvm

import "io/fs"

// fileKey is empty where the change time is not read: nothing is
// remembered.
func fileKey(fs.FileInfo) string { return "" }
