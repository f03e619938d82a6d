//go:build linux && arm64

package guest

import "golang.org/x/sys/unix"

const (
	nativeArch = unix.AUDIT_ARCH_AARCH64
	x32Bit     = 0
)

var modeCalls = []modeCall{
	{unix.SYS_FCHMOD, 1, -1},
	{unix.SYS_FCHMODAT, 2, -1},
	{unix.SYS_FCHMODAT2, 2, -1},
	{unix.SYS_OPENAT, 3, 2},
	{unix.SYS_MKNODAT, 2, -1},
}

var noModeView = []uint32{unix.SYS_OPENAT2, unix.SYS_IO_URING_SETUP}
