package bottlecli

import (
	"github.com/smolbottle/smolbottle/bottle"
)

const execUsage = `Usage: bottle exec --name NAME [FLAGS] -- SCRIPT

Run /bin/sh -c SCRIPT in the running machine NAME as --user (default node),
with the guest env and secrets given. The script's stdout and stderr are
passed through (once it has ended: the exec is buffered) and bottle exits
with the script's exit status.

stdin is not forwarded: the script reads /dev/null (smolvm's plain exec),
so it never waits for input. To feed a script data, copy a file in with
'bottle cp' first. Ctrl-C stops the exec: bottle exits 130 (143 for
SIGTERM).

Unless --guest-user says it, bottle first asks the guest which user smolvm
exec runs as ("id -un"), to know whether to switch users with runuser.
`

func runExec(c *cli, args []string) error {
	fs := newFlags("exec", execUsage)
	var ef execFlags
	ef.register(fs)
	if err := c.parse(fs, args); err != nil {
		return err
	}
	t, script, err := ef.resolve(c, fs)
	if err != nil {
		return err
	}
	m, err := bottle.Open(t, bottle.Agent{})
	if err != nil {
		return err
	}
	res, err := m.Exec(c.ctx, script, ef.user)
	if err != nil {
		return err
	}
	if _, err := c.stdout.Write(res.Stdout); err != nil {
		return err
	}
	if _, err := c.stderr.Write(res.Stderr); err != nil {
		return err
	}
	if res.ExitCode != 0 {
		return exitCode(res.ExitCode)
	}
	return nil
}

const cpUsage = `Usage: bottle cp --name NAME [--out] SRC DST

Copy a file into the running machine NAME (SRC a host path, DST a guest
path) or, with --out, out of it (SRC a guest path, DST a host path).
A host path containing ':' is staged under a colon-free name first, so
smolvm never mistakes it for MACHINE:PATH.
`

func runCp(c *cli, args []string) error {
	fs := newFlags("cp", cpUsage)
	var cf cpFlags
	cf.register(fs)
	if err := c.parse(fs, args); err != nil {
		return err
	}
	t, src, dst, err := cf.resolve(c, fs)
	if err != nil {
		return err
	}
	m, err := bottle.Open(t, bottle.Agent{})
	if err != nil {
		return err
	}
	if cf.out {
		return m.CopyOut(c.ctx, src, dst)
	}
	return m.CopyIn(c.ctx, src, dst, bottle.UploadOptions{})
}
