//go:build linux

package guest

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Who runs a guest command, and with what environment and PATH.

// user is a guest /etc/passwd entry.
type user struct {
	name     string
	uid, gid int
	home     string
	groups   []uint32
}

// lookupUser reads the guest's /etc/passwd and /etc/group; name may also be
// a numeric uid.
func lookupUser(name string) (*user, error) {
	raw, err := os.ReadFile("/etc/passwd")
	if err != nil {
		return nil, err
	}
	var u *user
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Split(line, ":")
		if len(f) < 7 {
			continue
		}
		if f[0] == name || f[2] == name {
			uid, err1 := strconv.Atoi(f[2])
			gid, err2 := strconv.Atoi(f[3])
			if err1 != nil || err2 != nil {
				continue
			}
			u = &user{name: f[0], uid: uid, gid: gid, home: f[5]}
			break
		}
	}
	if u == nil {
		if uid, err := strconv.Atoi(name); err == nil && uid >= 0 {
			return &user{name: name, uid: uid, gid: uid, home: "/"}, nil
		}
		return nil, errors.New("no such user")
	}
	if raw, err := os.ReadFile("/etc/group"); err == nil {
		for _, line := range strings.Split(string(raw), "\n") {
			f := strings.Split(line, ":")
			if len(f) < 4 {
				continue
			}
			gid, err := strconv.Atoi(f[2])
			if err != nil || gid == u.gid {
				continue
			}
			for _, m := range strings.Split(f[3], ",") {
				if m == u.name {
					u.groups = append(u.groups, uint32(gid))
				}
			}
		}
	}
	return u, nil
}

// mergeEnv layers env lists, later entries winning by key; a key keeps the
// position of its first appearance.
func mergeEnv(layers ...[]string) []string {
	idx := map[string]int{}
	var out []string
	for _, l := range layers {
		for _, kv := range l {
			k, _, _ := strings.Cut(kv, "=")
			if i, ok := idx[k]; ok {
				out[i] = kv
				continue
			}
			idx[k] = len(out)
			out = append(out, kv)
		}
	}
	return out
}

func envGet(env []string, key string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(env[i], "="); ok && k == key {
			return v
		}
	}
	return ""
}

// lookPath resolves argv[0] on the guest PATH the way execvp does; the
// error is an errno so it formats like smolvm's.
func lookPath(name, path string) (string, error) {
	if name == "" {
		return "", unix.ENOENT
	}
	if strings.Contains(name, "/") {
		return name, nil
	}
	denied := false
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, name)
		fi, err := os.Stat(p)
		if err != nil || fi.IsDir() {
			continue
		}
		if unix.Access(p, unix.X_OK) != nil {
			denied = true
			continue
		}
		return p, nil
	}
	if denied {
		return "", unix.EACCES
	}
	return "", unix.ENOENT
}

// imageUser resolves an image config's user as OCI images give it: NAME,
// UID, or either followed by ":GROUP" (a group name or GID).
func imageUser(spec string) (*user, error) {
	name, group, hasGroup := strings.Cut(spec, ":")
	u := &user{name: "root", home: "/root"}
	if name != "" && name != "root" && name != "0" {
		var err error
		if u, err = lookupUser(name); err != nil {
			return nil, unix.ENOENT
		}
	}
	if hasGroup && group != "" {
		gid, err := lookupGroup(group)
		if err != nil {
			return nil, unix.ENOENT
		}
		u.gid, u.groups = gid, nil
	}
	return u, nil
}

// lookupGroup reads a group name or GID from the guest's /etc/group.
func lookupGroup(g string) (int, error) {
	if gid, err := strconv.Atoi(g); err == nil && gid >= 0 {
		return gid, nil
	}
	raw, err := os.ReadFile("/etc/group")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Split(line, ":")
		if len(f) >= 3 && f[0] == g {
			return strconv.Atoi(f[2])
		}
	}
	return 0, errors.New("no such group")
}

// execContext works out the user, environment and working directory of a
// guest command: smolvm's base environment, the image's, the record's, then
// exec's -e (docs/smolvm.md, exec: environment).
func (a *agent) execContext(req *ExecRequest) (*user, []string, string, error) {
	u, err := imageUser(a.image.User)
	if err != nil {
		return nil, nil, "", err
	}
	home := u.home
	if u.uid == 0 {
		home = "/root"
	}
	env := mergeEnv(
		[]string{"HOME=" + home, "PATH=" + guestPATH, "TERM=xterm-256color"},
		a.image.Env, a.cfg.Env, req.Env,
	)
	dir := req.Workdir
	if dir == "" {
		dir = a.cfg.Workdir
	}
	if dir == "" {
		dir = a.image.Workdir
	}
	if dir == "" {
		dir = "/"
	}
	return u, env, dir, nil
}
