//go:build linux

package guest

import (
	"fmt"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// withShortPath calls f with a path naming dir/name that fits a unix
// socket address: dir itself if short enough, else /proc/self/fd/N/name
// through an O_PATH descriptor of dir held open during f.
func withShortPath(dir, name string, f func(string) error) error {
	p := filepath.Join(dir, name)
	if len(p) < 100 {
		return f(p)
	}
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return f(fmt.Sprintf("/proc/self/fd/%d/%s", fd, name))
}
