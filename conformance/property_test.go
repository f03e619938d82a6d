package conformance_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/smolbottle/smolbottle/bottle"
	"github.com/smolbottle/smolbottle/internal/fakesmolvm"
)

// The property: whatever argv bottle builds for an exec or an agent run,
// fake-smolvm's parser — written independently, from docs/smolvm.md —
// reads back the same machine, environment, user and command. Two
// implementations agreeing is the evidence; neither is checked against
// itself.

// call is what one exec means, independently of how the argv spells it.
type call struct {
	Machine string
	Env     map[string]string // the guest command's environment additions, after smolvm's layering
	Keys    []string          // the -e keys in the order given: guest env keeps insertion order
	User    string
	Command []string
	Stdin   bool // -i (or -t, which implies it): stdin forwarded, output streamed
	TTY     bool
}

// want computes the meaning of a bottle call from its inputs alone.
func want(t bottle.Target, user string, command []string, stdio bottle.Stdio) call {
	env := map[string]string{"HOME": "/home/" + user, "USER": user}
	if user == "root" {
		env["HOME"] = "/root"
	}
	keys := []string{"HOME", "USER"}
	for _, kv := range t.Env {
		env[kv.Key] = kv.Value
		keys = append(keys, kv.Key)
	}
	secretKeys := make([]string, 0, len(t.Secrets))
	for k, v := range t.Secrets {
		env[k] = v
		secretKeys = append(secretKeys, k)
	}
	slices.Sort(secretKeys) // a map has no order; bottle sorts for a deterministic argv
	keys = append(keys, secretKeys...)
	return call{Machine: t.Name, Env: env, Keys: keys, User: user, Command: command,
		Stdin: stdio != bottle.Buffered, TTY: stdio == bottle.TTY}
}

// got reads an invocation back through the fake's parser. defaultUser is
// the user the guest runs exec as ("" = root, smolvm's bare machine).
func got(inv bottle.Invocation, defaultUser string) (call, error) {
	if len(inv.Argv) == 0 {
		return call{}, errors.New("empty argv")
	}
	p, err := fakesmolvm.ParseExec(inv.Argv[1:])
	if err != nil {
		return call{}, err
	}
	// smolvm resolves a key-only -e from its own environment, later -e
	// entries winning by key (docs/smolvm.md, exec: environment).
	host := map[string]string{}
	for _, kv := range inv.Env {
		k, v, _ := strings.Cut(kv, "=")
		host[k] = v
	}
	env := map[string]string{}
	var keys []string
	for _, e := range p.Env {
		k, v, ok := strings.Cut(e, "=")
		keys = append(keys, k)
		if !ok {
			hv, found := host[k]
			if !found {
				return call{}, fmt.Errorf("-e %s: not in smolvm's environment", k)
			}
			v = hv
		}
		env[k] = v
	}
	user, cmd := defaultUser, p.Command
	if user == "" {
		user = "root"
	}
	if len(cmd) >= 4 && cmd[0] == "runuser" && cmd[1] == "-u" && cmd[3] == "--" {
		if user != "root" {
			return call{}, fmt.Errorf("runuser as %s: only root may switch users", user)
		}
		user, cmd = cmd[2], cmd[4:]
	}
	return call{Machine: p.Machine, Env: env, Keys: keys, User: user, Command: cmd,
		Stdin: p.Interactive || p.TTY, TTY: p.TTY}, nil
}

// input is one generated case.
type input struct {
	target  bottle.Target
	user    string
	script  string
	agent   bottle.Agent
	args    []string
	stdio   bottle.Stdio
	secrets []string // secret values, which must never appear in argv
}

func checkExec(t *testing.T, in input) {
	t.Helper()
	inv, err := bottle.ExecArgv(in.target, in.script, in.user)
	if err != nil {
		if errors.Is(err, bottle.ErrInvalid) || errors.Is(err, bottle.ErrUserSwitch) {
			return
		}
		t.Fatalf("ExecArgv(%+v, %q): unexpected error kind: %v", in.target, in.user, err)
	}
	user := in.user
	if user == "" {
		user = bottle.DefaultAgentUser
	}
	compare(t, "exec", inv, in, want(in.target, user, []string{"/bin/sh", "-c", in.script}, bottle.Buffered))
}

func checkAgent(t *testing.T, in input) {
	t.Helper()
	inv, err := bottle.AgentArgv(in.target, in.agent, in.args, in.stdio)
	if err != nil {
		if errors.Is(err, bottle.ErrInvalid) || errors.Is(err, bottle.ErrUserSwitch) {
			return
		}
		t.Fatalf("AgentArgv: unexpected error kind: %v", err)
	}
	a := in.agent
	if a.Command == "" {
		a.Command = "claude"
	}
	if a.User == "" {
		a.User = "node"
	}
	mode := a.PromptMode
	if mode == "" {
		mode = bottle.PromptAppendFile
		if a.Command == "codex" {
			mode = bottle.PromptReadFile
		}
	}
	cmd := []string{a.Command}
	switch {
	case a.PromptPath == "":
		cmd = append(cmd, in.args...)
	case mode == bottle.PromptReadFile:
		cmd = append(append(cmd, in.args...), "Read "+a.PromptPath+" and follow the instructions in it.")
	case slices.ContainsFunc(in.args, func(s string) bool {
		return s == "--append-system-prompt-file" || strings.HasPrefix(s, "--append-system-prompt-file=")
	}):
		cmd = append(cmd, in.args...)
	default:
		cmd = append(append(cmd, "--append-system-prompt-file", a.PromptPath), in.args...)
	}
	compare(t, "agent", inv, in, want(in.target, a.User, cmd, in.stdio))
}

func compare(t *testing.T, what string, inv bottle.Invocation, in input, w call) {
	t.Helper()
	g, err := got(inv, in.target.GuestUser)
	if err != nil {
		t.Fatalf("%s argv %q: the fake cannot read it: %v", what, inv.Argv, err)
	}
	if diff := cmp.Diff(w, g); diff != "" {
		t.Fatalf("%s argv %q: the fake reads a different call (-want +got):\n%s", what, inv.Argv, diff)
	}
	for _, s := range in.secrets {
		for _, a := range inv.Argv {
			if strings.Contains(a, s) {
				t.Fatalf("%s argv %q carries a secret value %q", what, inv.Argv, s)
			}
		}
	}
}

// Generators: mostly valid inputs, with the characters that break argv
// handling (spaces, quotes, '=', '--', leading '-', newlines, unicode).

var (
	nameRunes   = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"
	nastyPieces = []string{" ", "'", `"`, "=", "--", "-e", "-", "\n", "\t", "$HOME", "`id`", ";", "|", "é", "☃", "\\", "*", ":", ""}
	users       = []string{"node", "root", "agent", "_svc", "u-1", "-x", "Root", "a b", ""}
)

func genName(r *rand.Rand) string {
	n := 1 + r.IntN(40)
	var b strings.Builder
	for b.Len() < n {
		b.WriteByte(nameRunes[r.IntN(len(nameRunes))])
	}
	s := b.String()
	if r.IntN(10) == 0 {
		s = "-" + s // invalid: must be refused, not passed as a flag
	}
	return s
}

func genText(r *rand.Rand, max int) string {
	var b strings.Builder
	n := r.IntN(max + 1)
	for range n {
		if r.IntN(3) == 0 {
			b.WriteString(nastyPieces[r.IntN(len(nastyPieces))])
		} else {
			b.WriteByte("abcxyz019 ./"[r.IntN(12)])
		}
	}
	return b.String()
}

func genKey(r *rand.Rand) string {
	keys := []string{"PATH", "LANG", "HTTPS_PROXY", "A", "_x", "K9", "HOME", "USER", "TERM"}
	if r.IntN(4) == 0 {
		return fmt.Sprintf("K_%d", r.IntN(1000))
	}
	return keys[r.IntN(len(keys))]
}

func genInput(r *rand.Rand) input {
	in := input{target: bottle.Target{Name: genName(r), Program: "smolvm"}}
	seen := map[string]bool{}
	for range r.IntN(5) {
		k := genKey(r)
		if seen[k] {
			continue
		}
		seen[k] = true
		in.target.Env = append(in.target.Env, bottle.EnvVar{Key: k, Value: genText(r, 12)})
	}
	if n := r.IntN(3); n > 0 {
		in.target.Secrets = map[string]string{}
		for i := range n {
			k := fmt.Sprintf("SECRET_%d", i)
			v := fmt.Sprintf("s3cr3t-%08x%s", r.Uint32(), genText(r, 4))
			in.target.Secrets[k] = v
			in.secrets = append(in.secrets, v)
		}
	}
	in.user = users[r.IntN(len(users))]
	in.target.GuestUser = []string{"", "root", "node", in.user}[r.IntN(4)]
	in.script = genText(r, 30)
	in.agent = bottle.Agent{
		Command:    []string{"", "claude", "codex", "/opt/agent/bin/stub"}[r.IntN(4)],
		PromptMode: []bottle.PromptMode{"", bottle.PromptAppendFile, bottle.PromptReadFile}[r.IntN(3)],
		User:       users[r.IntN(len(users))],
	}
	if r.IntN(3) > 0 {
		in.agent.PromptPath = "/run/bottle/" + genText(r, 10)
	}
	for range r.IntN(5) {
		a := genText(r, 10)
		if r.IntN(6) == 0 {
			a = "--append-system-prompt-file"
		}
		in.args = append(in.args, a)
	}
	in.stdio = bottle.Stdio(r.IntN(3))
	return in
}

// TestArgvParsedBack runs the property over generated inputs (fixed seed,
// so a failure reproduces).
func TestArgvParsedBack(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 2026))
	accepted := 0
	for range 3000 {
		in := genInput(r)
		checkExec(t, in)
		checkAgent(t, in)
		if _, err := bottle.ExecArgv(in.target, in.script, in.user); err == nil {
			accepted++
		}
	}
	// A generator that only produces rejected inputs proves nothing.
	if accepted < 500 {
		t.Fatalf("only %d of 3000 generated exec inputs were accepted; the generator is too hostile", accepted)
	}
}

// FuzzArgvParsedBack is the same property under the fuzzer:
// go test -fuzz FuzzArgvParsedBack ./conformance/
func FuzzArgvParsedBack(f *testing.F) {
	f.Add("m1", "node", uint8(0), "A", "1", "s3cr3t-1", "echo hi", "--print", "/p", uint8(0))
	f.Add("vm-2", "root", uint8(1), "HOME", "/x", "s3cr3t- -e", "exit 3", "--append-system-prompt-file", "", uint8(3))
	f.Add("-h", "-x", uint8(2), "A=B", "v", "", "", "--", "/p q", uint8(5))
	f.Fuzz(func(t *testing.T, name, user string, defaultSel uint8, key, val, secret, script, arg, prompt string, modeSel uint8) {
		in := input{
			target: bottle.Target{
				Program:   "smolvm",
				Name:      name,
				Env:       []bottle.EnvVar{{Key: key, Value: val}},
				GuestUser: []string{"", "root", "node", user}[defaultSel%4],
			},
			user:   user,
			script: script,
			agent: bottle.Agent{
				Command:    []string{"claude", "codex"}[modeSel%2],
				PromptMode: []bottle.PromptMode{"", bottle.PromptAppendFile, bottle.PromptReadFile}[modeSel/2%3],
				PromptPath: prompt,
				User:       user,
			},
			args:  []string{arg},
			stdio: bottle.Stdio(modeSel / 8 % 3),
		}
		if secret != "" && key != "SECRET_0" {
			in.target.Secrets = map[string]string{"SECRET_0": secret}
			// Only claim "absent from argv" when no other input carries
			// the same text legitimately.
			if len(secret) >= 4 && !strings.Contains(name+user+key+val+script+arg+prompt+"smolvm machine exec --name -e HOME=/home/ USER= runuser -u /bin/sh -c Read and follow the instructions in it.claude codex --append-system-prompt-file -i -t", secret) {
				in.secrets = []string{secret}
			}
		}
		checkExec(t, in)
		checkAgent(t, in)
	})
}
