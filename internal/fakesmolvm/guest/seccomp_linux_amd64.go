//go:build linux && amd64

package guest

import "golang.org/x/sys/unix"

const (
	nativeArch = unix.AUDIT_ARCH_X86_64
	x32Bit     = 0x40000000 // __X32_SYSCALL_BIT
)

var modeCalls = []modeCall{
	{unix.SYS_CHMOD, 1, -1},
	{unix.SYS_FCHMOD, 1, -1},
	{unix.SYS_FCHMODAT, 2, -1},
	{unix.SYS_FCHMODAT2, 2, -1},
	{unix.SYS_CREAT, 1, -1},
	{unix.SYS_OPEN, 2, 1},
	{unix.SYS_OPENAT, 3, 2},
	{unix.SYS_MKNOD, 1, -1},
	{unix.SYS_MKNODAT, 2, -1},
}

var noModeView = []uint32{unix.SYS_OPENAT2, unix.SYS_IO_URING_SETUP}
