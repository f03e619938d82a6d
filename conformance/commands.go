package conformance

import (
	"bytes"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/smolbottle/smolbottle/internal/scripttest"
)

// cmdCleanup: cleanup NAME...
// At the end of the script, whatever happened, stop and delete each named
// machine (`smolvm machine delete --name NAME -f`, which stops it first).
func cmdCleanup(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: cleanup NAME...")
	}
	for _, name := range args {
		ts.Defer(func() { deleteMachine(ts, name) })
	}
}

func deleteMachine(ts *testscript.TestScript, name string) {
	// Not ts.Exec: a deferred teardown must not replace the stdout a
	// failing script left for the log, nor fail the script when the
	// machine was never created.
	env, _ := ts.Value(keyEnv).([]string)
	cmd, err := scripttest.CommandIn(env, ts.Getenv("WORK"), "smolvm", "machine", "delete", "--name", name, "-f")
	if err != nil {
		ts.Logf("cleanup %s: %v", name, err)
		return
	}
	out, err := cmd.CombinedOutput()
	if err != nil && !bytes.Contains(out, []byte("vm not found")) {
		ts.Logf("cleanup %s: %v: %s", name, err, out)
	}
}

// cmdLaunch: launch NAME [ARGS...]
// Launch a machine for the script's guest model with `bottle up --name NAME
// [--image IMAGE] ARGS...`, and tear it down at the end (as cleanup).
func cmdLaunch(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: launch NAME [bottle up args...]")
	}
	name := args[0]
	cmdCleanup(ts, false, args[:1])
	up := []string{"up", "--name", name}
	if m, ok := ts.Value(keyModel).(Model); ok && m.Image != "" {
		up = append(up, "--image", m.Image)
	}
	if extra, ok := ts.Value(keyLaunchArgs).([]string); ok {
		up = append(up, extra...)
	}
	up = append(up, args[1:]...)
	if err := ts.Exec("bottle", up...); err != nil {
		ts.Fatalf("launch %s: %v", name, err)
	}
	if m, ok := ts.Value(keyModel).(Model); ok && m.Image == "" {
		// A bare machine has root only. Agent images carry a "node" user
		// (uid 1000); give the bare guest the same, as root, so that
		// running things as node has someone to be.
		if err := ts.Exec("smolvm", "machine", "exec", "--name", name, "--", "sh", "-c", addNodeUser); err != nil {
			ts.Fatalf("launch %s: adding user node: %v", name, err)
		}
	}
}

const addNodeUser = `set -e
grep -q '^node:' /etc/passwd || echo 'node:x:1000:1000:node:/home/node:/bin/sh' >> /etc/passwd
grep -q '^node:' /etc/group || echo 'node:x:1000:' >> /etc/group
mkdir -p /home/node
chown 1000:1000 /home/node`
