package bottle

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/smolbottle/smolbottle/internal/golden"
)

// origHead is the original's fixed prefix for user "node" without a TTY.
var origHead = []string{"smolvm", "machine", "exec", "--name", "b1"}

func join(parts ...[]string) []string {
	var out []string
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

var (
	nodeEnv = []string{"-e", "HOME=/home/node", "-e", "USER=node"}
	rootEnv = []string{"-e", "HOME=/root", "-e", "USER=root"}
	tty     = []string{"-i", "-t"}
	asNode  = []string{"--", "runuser", "-u", "node", "--"}
	asRoot  = []string{"--", "runuser", "-u", "root", "--"}
)

type argvCase struct {
	name    string
	reason  string
	build   func() (Invocation, error)
	want    []string
	wantEnv []string
	wantErr error  // matched with errors.Is
	errText string // substring of the error message
}

func b1(env ...EnvVar) Target { return Target{Name: "b1", Env: env} }

// agentCases and execCases follow the original's claude_argv and exec
// word for word (docs/original.md).
var agentCases = []argvCase{
	{
		name:   "tty-default",
		reason: "the issue's example: TTY on, claude, no prompt path",
		build: func() (Invocation, error) {
			return AgentArgv(b1(), Agent{}, []string{"--dangerously-skip-permissions"}, TTY)
		},
		want: join(origHead, tty, nodeEnv, asNode, []string{"claude", "--dangerously-skip-permissions"}),
	},
	{
		name:   "no-tty",
		reason: "without a TTY the original adds no -i -t",
		build:  func() (Invocation, error) { return AgentArgv(b1(), Agent{}, []string{"-p", "hi"}, Buffered) },
		want:   join(origHead, nodeEnv, asNode, []string{"claude", "-p", "hi"}),
	},
	{
		name:   "streamed",
		reason: "headless streaming adds -i alone: stdin forwarded, output streamed, no terminal",
		build:  func() (Invocation, error) { return AgentArgv(b1(), Agent{}, []string{"-p", "hi"}, Streamed) },
		want:   join(origHead, []string{"-i"}, nodeEnv, asNode, []string{"claude", "-p", "hi"}),
	},
	{
		name:   "claude-prompt",
		reason: "claude_append_file puts the flag and path before the user's argv",
		build: func() (Invocation, error) {
			return AgentArgv(b1(), Agent{PromptPath: "/run/prompt.md"}, []string{"-p", "x"}, TTY)
		},
		want: join(origHead, tty, nodeEnv, asNode,
			[]string{"claude", "--append-system-prompt-file", "/run/prompt.md", "-p", "x"}),
	},
	{
		name:   "claude-prompt-overridden",
		reason: "the user's own --append-system-prompt-file wins: ours is omitted",
		build: func() (Invocation, error) {
			return AgentArgv(b1(), Agent{PromptPath: "/run/prompt.md"},
				[]string{"--append-system-prompt-file", "/mine.md"}, TTY)
		},
		want: join(origHead, tty, nodeEnv, asNode, []string{"claude", "--append-system-prompt-file", "/mine.md"}),
	},
	{
		name:   "claude-prompt-overridden-equals",
		reason: "the --flag=value spelling also counts as the user's override",
		build: func() (Invocation, error) {
			return AgentArgv(b1(), Agent{PromptPath: "/run/prompt.md"},
				[]string{"--append-system-prompt-file=/mine.md"}, Buffered)
		},
		want: join(origHead, nodeEnv, asNode, []string{"claude", "--append-system-prompt-file=/mine.md"}),
	},
	{
		name:   "claude-no-prompt-path",
		reason: "no prompt path: no prompt arguments at all",
		build: func() (Invocation, error) {
			return AgentArgv(b1(), Agent{PromptMode: PromptAppendFile}, nil, TTY)
		},
		want: join(origHead, tty, nodeEnv, asNode, []string{"claude"}),
	},
	{
		name:   "codex-prompt",
		reason: "codex defaults to codex_read_prompt_file: one positional after the user's argv",
		build: func() (Invocation, error) {
			return AgentArgv(b1(), Agent{Command: "codex", PromptPath: "/run/p.md"}, []string{"--full-auto"}, TTY)
		},
		want: join(origHead, tty, nodeEnv, asNode,
			[]string{"codex", "--full-auto", "Read /run/p.md and follow the instructions in it."}),
	},
	{
		name:   "codex-no-prompt-path",
		reason: "codex without a prompt path adds nothing",
		build: func() (Invocation, error) {
			return AgentArgv(b1(), Agent{Command: "codex"}, []string{"--full-auto"}, Buffered)
		},
		want: join(origHead, nodeEnv, asNode, []string{"codex", "--full-auto"}),
	},
	{
		name:   "codex-mode-on-claude",
		reason: "an explicit mode beats the command-based default",
		build: func() (Invocation, error) {
			return AgentArgv(b1(), Agent{PromptMode: PromptReadFile, PromptPath: "/p"}, []string{"a"}, Buffered)
		},
		want: join(origHead, nodeEnv, asNode, []string{"claude", "a", "Read /p and follow the instructions in it."}),
	},
	{
		name:   "guest-env-order",
		reason: "guest env follows HOME/USER, in insertion order, re-passed as -e K=V",
		build: func() (Invocation, error) {
			return AgentArgv(b1(EnvVar{"ZED", "1"}, EnvVar{"ALPHA", "2"}, EnvVar{"MID", "3"}), Agent{}, nil, TTY)
		},
		want: join(origHead, tty, nodeEnv,
			[]string{"-e", "ZED=1", "-e", "ALPHA=2", "-e", "MID=3"}, asNode, []string{"claude"}),
	},
	{
		name:   "guest-env-odd-values",
		reason: "values with =, spaces, newlines, unicode and empty values pass through untouched",
		build: func() (Invocation, error) {
			return AgentArgv(b1(
				EnvVar{"EQ", "a=b=c"}, EnvVar{"SP", "two words"}, EnvVar{"NL", "line1\nline2"},
				EnvVar{"UNI", "héllo ☃"}, EnvVar{"EMPTY", ""}), Agent{}, nil, Buffered)
		},
		want: join(origHead, nodeEnv,
			[]string{"-e", "EQ=a=b=c", "-e", "SP=two words", "-e", "NL=line1\nline2", "-e", "UNI=héllo ☃", "-e", "EMPTY="},
			asNode, []string{"claude"}),
	},
	{
		name:   "agent-user-override",
		reason: "an explicit agent user replaces node everywhere, HOME included",
		build: func() (Invocation, error) {
			return AgentArgv(b1(), Agent{User: "dev"}, nil, Buffered)
		},
		want: join(origHead, []string{"-e", "HOME=/home/dev", "-e", "USER=dev", "--", "runuser", "-u", "dev", "--", "claude"}),
	},
	{
		name:   "agent-default-user-node",
		reason: "a guest that already execs as node needs no runuser (it would fail there)",
		build: func() (Invocation, error) {
			return AgentArgv(Target{Name: "b1", GuestUser: "node"}, Agent{}, []string{"-c"}, TTY)
		},
		want: join(origHead, tty, nodeEnv, []string{"--", "claude", "-c"}),
	},
	{
		name:   "agent-default-user-root",
		reason: "a guest known to exec as root gives the original's runuser form",
		build: func() (Invocation, error) {
			return AgentArgv(Target{Name: "b1", GuestUser: "root"}, Agent{}, nil, Buffered)
		},
		want: join(origHead, nodeEnv, asNode, []string{"claude"}),
	},
	{
		name:   "agent-program",
		reason: "a configured program replaces argv[0] only",
		build: func() (Invocation, error) {
			return AgentArgv(Target{Program: "/opt/smolvm", Name: "b1"}, Agent{}, nil, Buffered)
		},
		want: join([]string{"/opt/smolvm", "machine", "exec", "--name", "b1"}, nodeEnv, asNode, []string{"claude"}),
	},
}

var execCases = []argvCase{
	{
		name:   "exec-node",
		reason: "the original's default user is node; exec never has -i -t",
		build:  func() (Invocation, error) { return ExecArgv(b1(), "echo hi", "") },
		want:   join(origHead, nodeEnv, asNode, []string{"/bin/sh", "-c", "echo hi"}),
	},
	{
		name:   "exec-root",
		reason: "root's HOME is /root, and the original still wraps in runuser",
		build:  func() (Invocation, error) { return ExecArgv(b1(), "id", "root") },
		want:   join(origHead, rootEnv, asRoot, []string{"/bin/sh", "-c", "id"}),
	},
	{
		name:   "exec-other-user",
		reason: "another user gets HOME=/home/USER",
		build:  func() (Invocation, error) { return ExecArgv(b1(), "pwd", "alice") },
		want: join(origHead, []string{"-e", "HOME=/home/alice", "-e", "USER=alice", "--", "runuser", "-u", "alice", "--",
			"/bin/sh", "-c", "pwd"}),
	},
	{
		name:   "exec-env",
		reason: "guest env is re-passed on exec too, after HOME/USER",
		build: func() (Invocation, error) {
			return ExecArgv(b1(EnvVar{"HTTPS_PROXY", "http://p:3128"}), "env", "node")
		},
		want: join(origHead, nodeEnv, []string{"-e", "HTTPS_PROXY=http://p:3128"}, asNode, []string{"/bin/sh", "-c", "env"}),
	},
	{
		name:   "exec-script-verbatim",
		reason: "the script is one argv word, quotes and newlines untouched",
		build:  func() (Invocation, error) { return ExecArgv(b1(), "echo 'a b'\nexit 3", "node") },
		want:   join(origHead, nodeEnv, asNode, []string{"/bin/sh", "-c", "echo 'a b'\nexit 3"}),
	},
	{
		name:   "exec-default-user-same",
		reason: "guest execs as node already: no runuser, HOME/USER still set",
		build: func() (Invocation, error) {
			return ExecArgv(Target{Name: "b1", GuestUser: "node"}, "id", "node")
		},
		want: join(origHead, nodeEnv, []string{"--", "/bin/sh", "-c", "id"}),
	},
	{
		name:   "exec-default-user-other",
		reason: "guest execs as node, root wanted: runuser cannot work, say so",
		build: func() (Invocation, error) {
			return ExecArgv(Target{Name: "b1", GuestUser: "node"}, "id", "root")
		},
		wantErr: ErrUserSwitch,
		errText: `guest runs exec as "node", which cannot switch to user "root"`,
	},
	{
		name:   "secrets",
		reason: "secrets: -e KEY in argv (sorted), values only in the child's environment",
		build: func() (Invocation, error) {
			t := b1(EnvVar{"PLAIN", "x"})
			t.Secrets = map[string]string{"TOKEN": "s3cret", "API_KEY": "k=v y"}
			return ExecArgv(t, "true", "node")
		},
		want: join(origHead, nodeEnv, []string{"-e", "PLAIN=x", "-e", "API_KEY", "-e", "TOKEN"}, asNode,
			[]string{"/bin/sh", "-c", "true"}),
		wantEnv: []string{"API_KEY=k=v y", "TOKEN=s3cret"},
	},
	{
		name:   "secrets-agent",
		reason: "the agent argv carries secrets the same way",
		build: func() (Invocation, error) {
			t := b1()
			t.Secrets = map[string]string{"CLAUDE_CODE_OAUTH_TOKEN": "tok"}
			return AgentArgv(t, Agent{}, nil, TTY)
		},
		want:    join(origHead, tty, nodeEnv, []string{"-e", "CLAUDE_CODE_OAUTH_TOKEN"}, asNode, []string{"claude"}),
		wantEnv: []string{"CLAUDE_CODE_OAUTH_TOKEN=tok"},
	},
	{
		name:   "probe",
		reason: "the default-user probe runs id -un with no user switch",
		build:  func() (Invocation, error) { return probeArgv(b1()) },
		want:   []string{"smolvm", "machine", "exec", "--name", "b1", "--", "id", "-un"},
	},
}

var cpCases = []argvCase{
	{
		name:   "cp-in",
		reason: "the original's cp: HOST NAME:GUEST",
		build:  func() (Invocation, error) { return CopyInArgv(b1(), "/tmp/x.txt", "/workspace/x.txt", UploadOptions{}) },
		want:   []string{"smolvm", "machine", "cp", "/tmp/x.txt", "b1:/workspace/x.txt"},
	},
	{
		name:   "cp-out",
		reason: "download: NAME:GUEST HOST",
		build:  func() (Invocation, error) { return CopyOutArgv(b1(), "/workspace/out.txt", "out.txt") },
		want:   []string{"smolvm", "machine", "cp", "b1:/workspace/out.txt", "out.txt"},
	},
	{
		name:    "cp-in-colon",
		reason:  "an upload from a:b would be read as a download from machine a: refused, never mis-copied",
		build:   func() (Invocation, error) { return CopyInArgv(b1(), "dir/a:b", "/g", UploadOptions{}) },
		wantErr: ErrColonPath,
	},
	{
		name:   "cp-out-colon",
		reason: "a download's DST is local even with ':' (docs/smolvm.md, cp: the ':' rule), so it passes unchanged",
		build:  func() (Invocation, error) { return CopyOutArgv(b1(), "/g/f", "dir/a:b") },
		want:   []string{"smolvm", "machine", "cp", "b1:/g/f", "dir/a:b"},
	},
	{
		name:   "cp-in-dash",
		reason: "a host path starting with - must not become a flag",
		build:  func() (Invocation, error) { return CopyInArgv(b1(), "-rf", "/g", UploadOptions{}) },
		want:   []string{"smolvm", "machine", "cp", "./-rf", "b1:/g"},
	},
	{
		name:   "cp-out-dash",
		reason: "the same on download",
		build:  func() (Invocation, error) { return CopyOutArgv(b1(), "/g", "-o") },
		want:   []string{"smolvm", "machine", "cp", "b1:/g", "./-o"},
	},
	{
		name:   "cp-guest-colon",
		reason: "only the first ':' splits, so a guest path may hold ':'",
		build:  func() (Invocation, error) { return CopyInArgv(b1(), "f", "/g/a:b", UploadOptions{}) },
		want:   []string{"smolvm", "machine", "cp", "f", "b1:/g/a:b"},
	},
	{
		name:   "cp-in-zero-options",
		reason: "zero upload options add no flags: the original's argv exactly",
		build: func() (Invocation, error) {
			return CopyInArgv(b1(), "/tmp/x.txt", "/workspace/x.txt", UploadOptions{})
		},
		want: []string{"smolvm", "machine", "cp", "/tmp/x.txt", "b1:/workspace/x.txt"},
	},
	{
		name:   "cp-in-mode-owner",
		reason: "mode in octal and a numeric owner, as flags before the positionals (docs/smolvm.md, cp)",
		build: func() (Invocation, error) {
			return CopyInArgv(b1(), "p.md", "/home/node/p.md", UploadOptions{Mode: 0o600, Owner: &FileOwner{UID: 1000, GID: 1001}})
		},
		want: []string{"smolvm", "machine", "cp", "--mode", "600", "--uid", "1000", "--gid", "1001", "p.md", "b1:/home/node/p.md"},
	},
	{
		name:   "cp-in-mode-small",
		reason: "a mode below 0100 keeps three octal digits, never read as decimal",
		build: func() (Invocation, error) {
			return CopyInArgv(b1(), "f", "/g", UploadOptions{Mode: 0o7})
		},
		want: []string{"smolvm", "machine", "cp", "--mode", "007", "f", "b1:/g"},
	},
	{
		name:   "cp-in-owner-root",
		reason: "owner 0:0 is still passed: a set Owner is explicit",
		build: func() (Invocation, error) {
			return CopyInArgv(b1(), "f", "/g", UploadOptions{Owner: &FileOwner{}})
		},
		want: []string{"smolvm", "machine", "cp", "--uid", "0", "--gid", "0", "f", "b1:/g"},
	},
	{
		name:   "cp-in-mode-type-bits",
		reason: "only permission bits can be set at upload",
		build: func() (Invocation, error) {
			return CopyInArgv(b1(), "f", "/g", UploadOptions{Mode: fs.ModeDir | 0o755})
		},
		wantErr: ErrInvalid,
		errText: "only permission bits",
	},
	{
		name:    "cp-in-options-colon",
		reason:  "options do not lift the ':' refusal",
		build:   func() (Invocation, error) { return CopyInArgv(b1(), "a:b", "/g", UploadOptions{Mode: 0o600}) },
		wantErr: ErrColonPath,
	},
	{
		name:    "cp-empty-host",
		reason:  "an empty host path is an error, not the current directory",
		build:   func() (Invocation, error) { return CopyInArgv(b1(), "", "/g", UploadOptions{}) },
		wantErr: ErrInvalid,
		errText: "host path is empty",
	},
	{
		name:    "cp-empty-guest",
		reason:  "an empty guest path is refused before smolvm",
		build:   func() (Invocation, error) { return CopyOutArgv(b1(), "", "h") },
		wantErr: ErrInvalid,
		errText: "guest path is empty",
	},
}

var resizeCases = []argvCase{
	{
		name:   "resize-push",
		reason: "one size into the session's FIFO, as smolvm exec's default user: no -e, no runuser",
		build:  func() (Invocation, error) { return ResizeArgv(b1(), "/tmp/.bottle-resize-x", 40, 120) },
		want:   []string{"smolvm", "machine", "exec", "--name", "b1", "--", "sh", "-c", resizeScript, "sh", "/tmp/.bottle-resize-x", "40", "120"},
	},
	{
		name:   "resize-wrap-agent",
		reason: "the wrapper goes right after smolvm's own --; later -- belong to the guest command",
		build: func() (Invocation, error) {
			inv, err := AgentArgv(b1(), Agent{}, []string{"--", "x"}, TTY)
			if err != nil {
				return inv, err
			}
			return ResizeWrap(inv, "/tmp/.bottle-resize-x")
		},
		want: join(origHead, tty, nodeEnv, []string{"--", "sh", "-c", wrapScript, "sh", "/tmp/.bottle-resize-x", "runuser", "-u", "node", "--", "claude", "--", "x"}),
	},
	{
		name:   "resize-wrap-no-dash-dash",
		reason: "without -- the guest command cannot be found reliably",
		build: func() (Invocation, error) {
			return ResizeWrap(Invocation{Argv: []string{"smolvm", "machine", "exec", "--name", "m1", "-it", "sh"}}, "/tmp/f")
		},
		wantErr: ErrInvalid,
		errText: "needs `-- COMMAND...`",
	},
	{
		name:   "resize-wrap-empty",
		reason: "an empty guest command is not wrapped",
		build: func() (Invocation, error) {
			return ResizeWrap(Invocation{Argv: []string{"smolvm", "machine", "exec", "--"}}, "/tmp/f")
		},
		wantErr: ErrInvalid,
	},
	{
		name:    "resize-fifo-relative",
		reason:  "the FIFO is an absolute guest path",
		build:   func() (Invocation, error) { return ResizeArgv(b1(), "tmp/f", 1, 1) },
		wantErr: ErrInvalid,
		errText: "absolute guest path",
	},
	{
		name:    "resize-size",
		reason:  "a size the kernel cannot hold is refused",
		build:   func() (Invocation, error) { return ResizeArgv(b1(), "/tmp/f", 0, 80) },
		wantErr: ErrInvalid,
		errText: "window size 0x80",
	},
	{
		name:    "resize-name",
		reason:  "the machine name is validated like every other",
		build:   func() (Invocation, error) { return ResizeArgv(Target{Name: "-h"}, "/tmp/f", 24, 80) },
		wantErr: ErrInvalid,
	},
}

var validationCases = []argvCase{
	{
		name:    "user-flag",
		reason:  "a user named -h would be read by runuser as its help flag",
		build:   func() (Invocation, error) { return ExecArgv(b1(), "id", "-h") },
		wantErr: ErrInvalid,
		errText: `invalid user name "-h"`,
	},
	{
		name:    "user-space",
		reason:  "spaces are not part of a POSIX user name",
		build:   func() (Invocation, error) { return ExecArgv(b1(), "id", "a b") },
		wantErr: ErrInvalid,
		errText: `invalid user name "a b"`,
	},
	{
		name:    "agent-user-invalid",
		reason:  "the agent user is validated like any other",
		build:   func() (Invocation, error) { return AgentArgv(b1(), Agent{User: "Root!"}, nil, Buffered) },
		wantErr: ErrInvalid,
		errText: `invalid user name "Root!"`,
	},
	{
		name:    "default-user-invalid",
		reason:  "the guest's default user is validated too",
		build:   func() (Invocation, error) { return ExecArgv(Target{Name: "b1", GuestUser: "-x"}, "id", "node") },
		wantErr: ErrInvalid,
		errText: `default user: invalid user name "-x"`,
	},
	{
		name:    "env-key-equals",
		reason:  "a key with = would move the value boundary",
		build:   func() (Invocation, error) { return ExecArgv(b1(EnvVar{"A=B", "c"}), "id", "node") },
		wantErr: ErrInvalid,
		errText: `invalid env key "A=B"`,
	},
	{
		name:    "env-key-dash",
		reason:  "a key starting with - is refused",
		build:   func() (Invocation, error) { return ExecArgv(b1(EnvVar{"-x", "c"}), "id", "node") },
		wantErr: ErrInvalid,
		errText: `invalid env key "-x"`,
	},
	{
		name:    "env-key-empty",
		reason:  "smolvm silently drops an empty key; we refuse it",
		build:   func() (Invocation, error) { return ExecArgv(b1(EnvVar{"", "c"}), "id", "node") },
		wantErr: ErrInvalid,
		errText: `invalid env key ""`,
	},
	{
		name:    "env-key-digit",
		reason:  "a key cannot start with a digit",
		build:   func() (Invocation, error) { return ExecArgv(b1(EnvVar{"1A", "c"}), "id", "node") },
		wantErr: ErrInvalid,
		errText: `invalid env key "1A"`,
	},
	{
		name:   "env-value-nul",
		reason: "argv cannot carry a NUL byte",
		build: func() (Invocation, error) {
			return ExecArgv(b1(EnvVar{"A", "x\x00y"}), "id", "node")
		},
		wantErr: ErrInvalid,
		errText: "value of env A contains a NUL byte",
	},
	{
		name:   "secret-key-invalid",
		reason: "secret keys are validated like env keys",
		build: func() (Invocation, error) {
			return ExecArgv(Target{Name: "b1", Secrets: map[string]string{"A-B": "x"}}, "id", "node")
		},
		wantErr: ErrInvalid,
		errText: `secret: invalid env key "A-B"`,
	},
	{
		name:   "secret-and-env",
		reason: "a key given both as env and as a secret is ambiguous",
		build: func() (Invocation, error) {
			return ExecArgv(Target{Name: "b1", Env: []EnvVar{{"T", "1"}}, Secrets: map[string]string{"T": "x"}}, "id", "node")
		},
		wantErr: ErrInvalid,
		errText: `env key "T" is given both as plain env and as a secret`,
	},
	{
		name:   "secret-reserved",
		reason: "a secret's value lands in smolvm's own environment, where HOME would move its state",
		build: func() (Invocation, error) {
			return ExecArgv(Target{Name: "b1", Secrets: map[string]string{"HOME": "/x"}}, "id", "node")
		},
		wantErr: ErrInvalid,
		errText: `secret "HOME" would also change smolvm's own environment`,
	},
	{
		name:   "secret-reserved-prefix",
		reason: "SMOLVM_* steers smolvm too",
		build: func() (Invocation, error) {
			return ExecArgv(Target{Name: "b1", Secrets: map[string]string{"SMOLVM_DATA_DIR": "/x"}}, "id", "node")
		},
		wantErr: ErrInvalid,
		errText: `secret "SMOLVM_DATA_DIR" would also change`,
	},
	{
		name:    "stdio-unknown",
		reason:  "an unknown stdio form is refused, not run as some other form",
		build:   func() (Invocation, error) { return AgentArgv(b1(), Agent{}, nil, Stdio(7)) },
		wantErr: ErrInvalid,
		errText: "unknown stdio 7",
	},
	{
		name:    "prompt-mode-unknown",
		reason:  "an unknown prompt mode is refused, not silently treated as claude",
		build:   func() (Invocation, error) { return AgentArgv(b1(), Agent{PromptMode: "gemini"}, nil, Buffered) },
		wantErr: ErrInvalid,
		errText: `unknown prompt mode "gemini"`,
	},
	{
		name:    "script-nul",
		reason:  "a script with NUL cannot be passed",
		build:   func() (Invocation, error) { return ExecArgv(b1(), "a\x00", "node") },
		wantErr: ErrInvalid,
		errText: "script contains a NUL byte",
	},
	{
		name:    "name-empty",
		reason:  "smolvm's name rule 1: empty (docs/smolvm.md, Machine names)",
		build:   func() (Invocation, error) { return ExecArgv(Target{}, "id", "node") },
		wantErr: ErrInvalid,
		errText: "machine name cannot be empty",
	},
	{
		name:    "name-flag",
		reason:  "smolvm's name rule 3: a name like -h never reaches smolvm",
		build:   func() (Invocation, error) { return CopyInArgv(Target{Name: "-h"}, "f", "/g", UploadOptions{}) },
		wantErr: ErrInvalid,
		errText: `machine name must start with a letter or digit (got: "-h")`,
	},
}

func TestArgv(t *testing.T) {
	for _, group := range [][]argvCase{agentCases, execCases, cpCases, resizeCases, validationCases} {
		for _, tc := range group {
			t.Run(tc.name, func(t *testing.T) {
				got, err := tc.build()
				if tc.wantErr != nil || tc.errText != "" {
					if err == nil {
						t.Fatalf("%s\ngot argv %q, want an error", tc.reason, got.Argv)
					}
					if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
						t.Errorf("%s\nerror %q does not match %v", tc.reason, err, tc.wantErr)
					}
					if !strings.Contains(err.Error(), tc.errText) {
						t.Errorf("%s\nerror %q does not contain %q", tc.reason, err, tc.errText)
					}
					return
				}
				if err != nil {
					t.Fatalf("%s\nunexpected error: %v", tc.reason, err)
				}
				if diff := cmp.Diff(tc.want, got.Argv); diff != "" {
					t.Errorf("%s\nargv mismatch (-want +got):\n%s", tc.reason, diff)
				}
				if diff := cmp.Diff(tc.wantEnv, got.Env); diff != "" {
					t.Errorf("%s\nenv mismatch (-want +got):\n%s", tc.reason, diff)
				}
				for _, kv := range got.Env {
					_, v, _ := strings.Cut(kv, "=")
					for _, a := range got.Argv {
						if strings.Contains(a, v) {
							t.Errorf("secret value %q appears in argv word %q", v, a)
						}
					}
				}
			})
		}
	}
}

// TestArgvGolden pins every successful row's argv (as JSON, one per line)
// in testdata/argv.golden, so any change to a command line shows up in
// review as a change to a value.
func TestArgvGolden(t *testing.T) {
	var b strings.Builder
	for _, group := range [][]argvCase{agentCases, execCases, cpCases, resizeCases} {
		for _, tc := range group {
			inv, err := tc.build()
			if err != nil {
				continue
			}
			j, err := json.Marshal(inv.Argv)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "%s %s\n", tc.name, j)
		}
	}
	golden.Check(t, "argv", []byte(b.String()))
}

func TestValidateName(t *testing.T) {
	long := strings.Repeat("a", 129)
	tests := []struct {
		name, in, want, reason string
	}{
		{"ok-simple", "bottle-1a2b3c4d", "", "the generated form"},
		{"ok-44", strings.Repeat("a", 44), "", "smolvm accepts length 44 (docs/smolvm.md, Machine names)"},
		{"ok-75", strings.Repeat("b", 75), "", "smolvm accepts length 75 (docs/smolvm.md, Machine names)"},
		{"ok-128", strings.Repeat("c", 128), "", "128 bytes is the maximum"},
		{"ok-underscore", "a_b", "", "underscore is allowed inside"},
		{"ok-digit-first", "9lives", "", "a digit may start a name"},
		{"empty", "", "machine name cannot be empty", "rule 1"},
		{"too-long", long, "machine name too long: 129 characters (max 128)", "rule 2"},
		{"dash-first", "-x", `machine name must start with a letter or digit (got: "-x")`, "rule 3"},
		{"underscore-first", "_x", `machine name must start with a letter or digit (got: "_x")`, "rule 3: _ is not a letter"},
		{"dash-last", "x-", `machine name cannot end with a hyphen (got: "x-")`, "rule 4"},
		{"double-dash", "a--b", "machine name cannot contain consecutive hyphens", "rule 5"},
		{"slash", "a/b", "machine name cannot contain path separators", "rule 5"},
		{"backslash", `a\b`, "machine name cannot contain path separators", "rule 5"},
		{"space", "a b", "machine name contains invalid character: ' '", "rule 5"},
		{"colon", "a:b", "machine name contains invalid character: ':'", "a ':' would break cp's NAME:PATH"},
		{"unicode", "aé", "machine name contains invalid character: 'é'", "ASCII only"},
		{"order", "a/b--c", "machine name cannot contain path separators", "rule 5 scans left to right"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateName(tc.in)
			got := ""
			if err != nil {
				got = err.Error()
				if !errors.Is(err, ErrInvalid) {
					t.Errorf("%s: error does not match ErrInvalid", tc.reason)
				}
			}
			if got != tc.want {
				t.Errorf("%s: ValidateName(%q) = %q, want %q", tc.reason, tc.in, got, tc.want)
			}
		})
	}
}

func TestNewNameIsValid(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		n := NewName()
		if err := ValidateName(n); err != nil {
			t.Fatalf("NewName() = %q: %v", n, err)
		}
		if len(n) != len("bottle-")+8 || !strings.HasPrefix(n, "bottle-") {
			t.Fatalf("NewName() = %q, want bottle- and 8 hex digits", n)
		}
		seen[n] = true
	}
	if len(seen) < 95 {
		t.Errorf("only %d distinct names in 100", len(seen))
	}
}

var owner1 = Owner{PID: 42, Start: 777, Boot: "boot-1", Host: "host1"}

func TestCreateArgv(t *testing.T) {
	tests := []struct {
		name, reason string
		spec         Spec
		want         []string
		errText      string
	}{
		{"bare", "the name and the owner labels, sorted by key", Spec{Target: Target{Name: "b1"}, Owner: owner1},
			[]string{"smolvm", "machine", "create", "--name", "b1", "--label", "smolbottle.bottle=1", "--label", "smolbottle.owner.boot=boot-1",
				"--label", "smolbottle.owner.host=host1", "--label", "smolbottle.owner.pid=42", "--label", "smolbottle.owner.start=777"}, ""},
		{"full", "every field in a fixed order, labels sorted, extra flags last",
			Spec{Target: Target{Program: "sv", Name: "b1"}, Image: "node:22", CPUs: 2, MemoryMiB: 1024,
				MachineEnv: []EnvVar{{"B", "1"}, {"A", "x y"}}, Network: true, CreateFlags: []string{"--storage", "30"},
				Owner: Owner{PID: 7}, Keep: true, Labels: map[string]string{"team": "a=b", "ci": ""}},
			[]string{"sv", "machine", "create", "--name", "b1", "--image", "node:22", "--cpus", "2", "--mem", "1024",
				"-e", "B=1", "-e", "A=x y", "--net", "--label", "ci=", "--label", "smolbottle.bottle=1", "--label", "smolbottle.keep=1",
				"--label", "smolbottle.owner.pid=7", "--label", "team=a=b", "--storage", "30"}, ""},
		{"no-owner", "a bottle without an owner could never be told orphaned", Spec{Target: Target{Name: "b1"}}, nil, "owner pid 0"},
		{"label-own", "bottle's own labels cannot be forged", Spec{Target: Target{Name: "b1"}, Owner: owner1, Labels: map[string]string{LabelPID: "1"}}, nil, "bottle's own"},
		{"label-eq", "smolvm splits at the first '=': a key with '=' would change meaning", Spec{Target: Target{Name: "b1"}, Owner: owner1, Labels: map[string]string{"a=b": "c"}}, nil, `label key "a=b"`},
		{"label-empty", "smolvm refuses an empty key", Spec{Target: Target{Name: "b1"}, Owner: owner1, Labels: map[string]string{"": "c"}}, nil, `label key ""`},
		{"image-dash", "an image starting with - would be a flag", Spec{Target: Target{Name: "b1"}, Image: "-x", Owner: owner1}, nil, `invalid image "-x"`},
		{"cpus-range", "smolvm takes a u8", Spec{Target: Target{Name: "b1"}, CPUs: 256, Owner: owner1}, nil, "cpus 256 out of range"},
		{"env-key", "machine env keys are validated", Spec{Target: Target{Name: "b1"}, MachineEnv: []EnvVar{{"A B", ""}}, Owner: owner1}, nil, `machine env: invalid env key "A B"`},
		{"name", "the name is validated", Spec{Target: Target{Name: "x-"}}, nil, "cannot end with a hyphen"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := CreateArgv(tc.spec)
			if tc.errText != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errText) || !errors.Is(err, ErrInvalid) {
					t.Fatalf("%s: err = %v, want ErrInvalid containing %q", tc.reason, err, tc.errText)
				}
				return
			}
			if err != nil {
				t.Fatalf("%s: %v", tc.reason, err)
			}
			if diff := cmp.Diff(tc.want, got.Argv); diff != "" {
				t.Errorf("%s (-want +got):\n%s", tc.reason, diff)
			}
		})
	}
}
