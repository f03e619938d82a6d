//go:build linux

package guest

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// runuserMain is the guest's runuser(1): `runuser -u USER [--] CMD [ARGS]`,
// as util-linux's, keeping the environment (HOME, USER...) as it is.
func runuserMain(args []string) int {
	fail := func(code int, format string, a ...any) int {
		fmt.Fprintf(os.Stderr, "runuser: "+format+"\n", a...)
		return code
	}
	var name string
	var cmd []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			cmd = args[i+1:]
			i = len(args)
		case a == "-u" || a == "--user":
			if i+1 >= len(args) {
				return fail(1, "option requires an argument -- 'u'")
			}
			name = args[i+1]
			i++
		case strings.HasPrefix(a, "--user="):
			name = strings.TrimPrefix(a, "--user=")
		case strings.HasPrefix(a, "-u") && len(a) > 2:
			name = a[2:]
		case strings.HasPrefix(a, "-") && a != "-":
			return fail(1, "unrecognized option '%s'", a)
		default:
			cmd = args[i:]
			i = len(args)
		}
	}
	if name == "" {
		return fail(1, "no user specified (use -u USER)")
	}
	if os.Geteuid() != 0 {
		return fail(1, "may not be used by non-root users")
	}
	u, err := lookupUser(name)
	if err != nil || u.name != name {
		return fail(1, "user %s does not exist", name)
	}
	if len(cmd) == 0 {
		cmd = []string{"/bin/sh"}
	}
	groups := make([]int, 0, len(u.groups))
	for _, g := range u.groups {
		groups = append(groups, int(g))
	}
	if err := syscall.Setgroups(groups); err != nil && !(errors.Is(err, unix.EPERM) && u.uid == 0) {
		return fail(1, "cannot set groups: %s", errText(err))
	}
	if err := syscall.Setresgid(u.gid, u.gid, u.gid); err != nil {
		return fail(1, "cannot set group id: %s", errText(err))
	}
	if err := syscall.Setresuid(u.uid, u.uid, u.uid); err != nil {
		return fail(1, "cannot set user id: %s", errText(err))
	}
	p, err := lookPath(cmd[0], os.Getenv("PATH"))
	if err == nil {
		err = syscall.Exec(p, cmd, os.Environ())
	}
	code := 126
	if errors.Is(err, unix.ENOENT) {
		code = 127
	}
	return fail(code, "failed to execute %s: %s", cmd[0], errText(err))
}

// errText is strerror's wording.
func errText(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		s := errno.Error()
		return strings.ToUpper(s[:1]) + s[1:]
	}
	return err.Error()
}
