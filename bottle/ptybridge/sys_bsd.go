//go:build darwin || dragonfly || freebsd || netbsd || openbsd

package ptybridge

import "golang.org/x/sys/unix"

const (
	ioctlGetTermios = unix.TIOCGETA
	ioctlSetTermios = unix.TIOCSETA
)

// waitNoReap is not available here: the command is marked exited only once
// reaped, which leaves a tiny window in which a forwarded signal could reach
// a recycled PID.
func waitNoReap(pid int) bool { return false }

func pipe(p []int) error {
	if err := unix.Pipe(p); err != nil {
		return err
	}
	for _, fd := range p {
		unix.CloseOnExec(fd)
		if err := unix.SetNonblock(fd, true); err != nil {
			return err
		}
	}
	return nil
}
