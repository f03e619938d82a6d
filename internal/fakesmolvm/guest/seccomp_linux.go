//go:build linux

package guest

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The guest's seccomp filter: guest processes cannot set a setuid or
// setgid bit, by chmod or when creating a file. Every guest uid is a host
// uid (shifted, or the caller's: see doc.go, "Users and ids"), so such a
// file, left in a volume or the machine's tree, would give any host user
// who can reach it that uid (with the shift, the uid of every guest's
// root on the host). A
// call that would set one fails with EPERM; openat2 and io_uring, whose
// modes a filter cannot read, fail with ENOSYS (callers fall back to
// openat).

// seccomp_data offsets: nr, arch, then the 64-bit arguments.
const (
	offNr   = 0
	offArch = 4
)

func offArg(i int) uint32 { return 16 + 8*uint32(i) } // the low 32 bits (little-endian)

const (
	retAllow  = unix.SECCOMP_RET_ALLOW
	retEPERM  = unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)
	retENOSYS = unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)
	idBits    = unix.S_ISUID | unix.S_ISGID
	createBit = unix.O_CREAT | unix.O_TMPFILE
)

// modeCall is a syscall that takes a mode: modeArg is its index; flagsArg
// (>= 0) is the open flags that must include O_CREAT or O_TMPFILE for the
// mode to count.
type modeCall struct {
	nr       uint32
	modeArg  int
	flagsArg int
}

// filterProgram builds the BPF program: native arch only, then for each
// mode call, deny when the mode has S_ISUID or S_ISGID.
func filterProgram() []unix.SockFilter {
	stmt := func(code uint16, k uint32) unix.SockFilter { return unix.SockFilter{Code: code, K: k} }
	jump := func(code uint16, k uint32, jt, jf uint8) unix.SockFilter {
		return unix.SockFilter{Code: code, K: k, Jt: jt, Jf: jf}
	}
	const (
		ldw  = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
		jeq  = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
		jge  = unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K
		jset = unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K
		ret  = unix.BPF_RET | unix.BPF_K
	)
	p := []unix.SockFilter{
		stmt(ldw, offArch),
		jump(jeq, nativeArch, 1, 0),
		stmt(ret, retEPERM), // another ABI (i386, x32 numbering) could name other calls
		stmt(ldw, offNr),
	}
	if x32Bit != 0 {
		p = append(p, jump(jge, x32Bit, 0, 1), stmt(ret, retEPERM))
	}
	for _, nr := range noModeView {
		p = append(p, jump(jeq, nr, 0, 1), stmt(ret, retENOSYS))
	}
	for _, c := range modeCalls {
		// if nr == c.nr { [flags check] mode check } ; each block ends
		// by returning, so the next block starts with nr reloaded.
		var body []unix.SockFilter
		if c.flagsArg >= 0 {
			body = append(body,
				stmt(ldw, offArg(c.flagsArg)),
				jump(jset, createBit, 1, 0),
				stmt(ret, retAllow))
		}
		body = append(body,
			stmt(ldw, offArg(c.modeArg)),
			jump(jset, idBits, 0, 1),
			stmt(ret, retEPERM),
			stmt(ret, retAllow))
		p = append(p, jump(jeq, c.nr, 0, uint8(len(body))))
		p = append(p, body...)
	}
	return append(p, stmt(ret, retAllow))
}

// installFilter loads the filter on the calling thread; the processes it
// forks inherit it. The agent holds CAP_SYS_ADMIN in its user namespace,
// so no_new_privs is not needed (and setuid programs of an image keep
// working as in a VM).
func installFilter() error {
	if nativeArch == 0 {
		return nil
	}
	prog := filterProgram()
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	if err := unix.Prctl(unix.PR_SET_SECCOMP, unix.SECCOMP_MODE_FILTER, uintptr(unsafe.Pointer(&fprog)), 0, 0); err != nil {
		return fmt.Errorf("seccomp filter: %w", err)
	}
	return nil
}
