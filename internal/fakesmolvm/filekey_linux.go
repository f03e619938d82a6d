package fakesmolvm

import (
	"fmt"
	"io/fs"
	"syscall"
)

// fileKey names a file's state: a rewrite, a replacement or a touch
// changes it (the change time cannot be set back).
func fileKey(fi fs.FileInfo) string {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return ""
	}
	return fmt.Sprintf("%d %d %d %d.%09d %d.%09d", st.Dev, st.Ino, st.Size, st.Mtim.Sec, st.Mtim.Nsec, st.Ctim.Sec, st.Ctim.Nsec)
}
