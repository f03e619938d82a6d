package fakesmolvm

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/term"

	"github.com/smolbottle/smolbottle/internal/fakesmolvm/guest"
)

// requireRunning applies exec's preconditions (docs/smolvm.md, exec:
// preconditions): it never starts a machine. It returns the machine's data
// dir.
func (c *cli) requireRunning(name string, named bool) (string, error) {
	r, err := c.store.get(name)
	if err != nil {
		return "", err
	}
	if r == nil {
		if !named {
			return "", errorf("agent operation failed: connect: machine '%s' not found", name)
		}
		return "", namedNotFound(name)
	}
	if state, _ := c.displayState(r); state != "running" {
		if named {
			return "", errorf("agent operation failed: connect: machine '%s' is not running. Use 'smolvm machine start --name %s' first.", name, name)
		}
		return "", errorf("agent operation failed: connect: machine '%s' is not running. Use 'smolvm machine start' first.", name)
	}
	return c.paths.machineDir(name), nil
}

// execRequest builds the guest request from exec-style flags. The guest env
// is --secret-env/--secret-file (resolved here, on the host) and then -e,
// later entries winning by key in the guest.
func (c *cli) execRequest(p *parsed, argv []string) (guest.ExecRequest, error) {
	secrets, err := c.resolveSecrets(p)
	if err != nil {
		return guest.ExecRequest{}, err
	}
	req := guest.ExecRequest{Argv: argv, Env: append(secrets, resolveEnv(p.all("env"), c.lookupEnv)...)}
	req.Workdir, _ = p.get("workdir")
	if s, ok := p.get("timeout"); ok {
		req.Timeout, _ = parseTimeout(s)
	}
	switch {
	case p.has("detach"):
		req.Mode = guest.Detach
	case p.has("tty"):
		req.Mode = guest.TTY
	case p.has("interactive"):
		req.Mode = guest.Interactive
	case p.has("stream"):
		req.Mode = guest.Stream
	default:
		req.Mode = guest.Buffered
	}
	if f := c.fault; f != nil {
		req.KillMachine = f.KillMachine
		req.NoResizeForwarding = f.NoResizeForwarding
	}
	return req, nil
}

// resolveSecrets reads exec's --secret-env GUEST=HOSTVAR and
// --secret-file GUEST=/abs/path on the host.
func (c *cli) resolveSecrets(p *parsed) ([]string, error) {
	if err := checkSecretRefs(p); err != nil {
		return nil, err
	}
	var out []string
	for _, s := range p.all("secret-env") {
		k, hv, _ := strings.Cut(s, "=")
		v, set := c.lookupEnv(hv)
		if !set || hv == "" {
			return nil, errorf("config operation failed: --secret-env: host environment variable '%s' is not set", hv)
		}
		out = append(out, k+"="+v)
	}
	for _, s := range p.all("secret-file") {
		k, path, _ := strings.Cut(s, "=")
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, errorf("config operation failed: --secret-file: %v", err)
		}
		out = append(out, k+"="+strings.TrimRight(string(b), "\n"))
	}
	return out, nil
}

// checkSecretRefs is smolvm's reading of --secret-env GUEST=HOSTVAR and
// --secret-file GUEST=/abs/path (create, run and exec): KEY=VALUE with a
// non-empty key, an absolute file path, and each key once across both
// flags. Values are not looked at here.
func checkSecretRefs(p *parsed) error {
	seen := map[string]bool{}
	for _, flag := range []string{"secret-env", "secret-file"} {
		for _, s := range p.all(flag) {
			k, v, ok := strings.Cut(s, "=")
			switch {
			case !ok:
				return errorf("config operation failed: --%s: expected KEY=VALUE, got '%s'", flag, s)
			case k == "":
				return errorf("config operation failed: --%s: empty secret name in '%s'", flag, s)
			case flag == "secret-file" && !strings.HasPrefix(v, "/"):
				return errorf("config operation failed: --%s: secret '%s': from_file path '%s' is relative; absolute paths are required", flag, k, v)
			case seen[k]:
				return errorf("config operation failed: --%s: secret '%s' specified more than once", flag, k)
			}
			seen[k] = true
		}
	}
	return nil
}

// exec implements `machine exec` (docs/smolvm.md, exec).
func (c *cli) exec(p *parsed) error { return c.execIn(p, p.args, false) }

// shell implements `machine shell` (docs/smolvm.md, shell):
// exec -it -- /bin/sh.
func (c *cli) shell(p *parsed) error { return c.execIn(p, []string{"/bin/sh"}, true) }

// execIn runs argv in the running machine --name (default "default").
func (c *cli) execIn(p *parsed, argv []string, tty bool) error {
	name, named := machineName(p)
	if err := c.touchDataDir(name); err != nil {
		return err
	}
	dir, err := c.requireRunning(name, named)
	if err != nil {
		return err
	}
	req, err := c.execRequest(p, argv)
	if err != nil {
		return err
	}
	if tty {
		req.Mode = guest.TTY
	}
	return c.runGuest(dir, req)
}

// runGuest runs req and turns its outcome into the invocation's result.
// A guest that reads stdin gets the invocation's stdin as is; the recorder
// counts the bytes forwarded, except from a terminal (stdin_tty instead).
func (c *cli) runGuest(dir string, req guest.ExecRequest) error {
	stdio := guest.Stdio{Stdout: c.stdout, Stderr: c.stderr}
	switch req.Mode {
	case guest.Interactive, guest.TTY:
		stdio.Stdin = c.stdin
		if c.stdin != nil && term.IsTerminal(int(c.stdin.Fd())) {
			c.stdinTTY = true
		} else {
			stdio.StdinCount = &c.stdinBytes
		}
	}
	code, err := guest.Exec(dir, req, stdio)
	if err != nil {
		return &runtimeError{err.Error()}
	}
	return exitCode(code)
}

// cp implements `machine cp` (docs/smolvm.md, cp).
func (c *cli) cp(p *parsed) error {
	src, dst := p.args[0], p.args[1]
	req := guest.CopyRequest{}
	var name string
	if m, g, ok := strings.Cut(src, ":"); ok {
		name, req.GuestPath, req.LocalPath = m, g, dst
	} else if m, g, ok := strings.Cut(dst, ":"); ok {
		name, req.GuestPath, req.LocalPath, req.Upload = m, g, src, true
	} else {
		return errorf("config operation failed: cp: one of SRC or DST must use machine:path syntax (e.g., myvm:/workspace/file)")
	}
	if !req.Upload && (p.has("mode") || p.has("uid") || p.has("gid")) {
		return errorf("config operation failed: cp: --mode/--uid/--gid apply to uploads only (host -> machine)")
	}
	c.machine = name
	if err := c.touchDataDir(name); err != nil {
		return err
	}
	dir, err := c.requireRunning(name, true)
	if err != nil {
		return err
	}
	if s, ok := p.get("mode"); ok {
		m, err := parseMode(s)
		if err != nil {
			return &runtimeError{err.Error()}
		}
		req.Mode = &m
	}
	for long, dst := range map[string]**uint32{"uid": &req.UID, "gid": &req.GID} {
		if s, ok := p.get(long); ok {
			n, _ := parseUintRust(s, 32)
			v := uint32(n)
			*dst = &v
		}
	}
	if err := guest.Copy(dir, req, c.stderr); err != nil {
		return &runtimeError{err.Error()}
	}
	return nil
}

// touchDataDir creates a machine's data dir (with its "name" file) if it
// is missing. smolvm's exec, cp, text status and some stops open the
// machine's runtime files before anything else, which creates the dir even
// for a machine never started (or one without a record); a later delete
// then reports "Cleaning up data directory" for it (docs/smolvm.md, output
// details).
func (c *cli) touchDataDir(name string) error {
	dir := c.paths.machineDir(name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return errorf("io operation failed: %v", err)
	}
	nameFile := filepath.Join(dir, "name")
	if _, err := os.Stat(nameFile); errors.Is(err, fs.ErrNotExist) {
		if err := os.WriteFile(nameFile, []byte(name), 0o644); err != nil {
			return errorf("io operation failed: %v", err)
		}
	}
	return nil
}

// dataDir implements `machine data-dir` (docs/smolvm.md, data-dir).
func (c *cli) dataDir(p *parsed) error {
	name, _ := p.get("name")
	r, err := c.store.get(name)
	if err != nil {
		return err
	}
	if r == nil {
		return errorf("vm not found: %s", name)
	}
	c.out("%s", c.paths.machineDir(name))
	return nil
}
