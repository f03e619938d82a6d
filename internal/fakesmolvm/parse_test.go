package fakesmolvm

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name   string
		spec   *cmdSpec
		argv   []string
		vals   map[string][]string
		args   []string
		err    string // clap message; "" = success
		reason string
	}{
		{"long-space", specCreate, []string{"--name", "a"}, map[string][]string{"name": {"a"}}, nil, "", "--opt value"},
		{"long-eq", specCreate, []string{"--name=a"}, map[string][]string{"name": {"a"}}, nil, "", "--opt=value"},
		{"long-eq-dash", specCreate, []string{"--name=-x"}, map[string][]string{"name": {"-x"}}, nil, "", "an attached value may start with -"},
		{"long-eq-empty", specCreate, []string{"--name="}, map[string][]string{"name": {""}}, nil, "", "an attached empty value is a value"},
		{"short-space", specCreate, []string{"-n", "a"}, map[string][]string{"name": {"a"}}, nil, "", "-o value"},
		{"short-attached", specCreate, []string{"-na"}, map[string][]string{"name": {"a"}}, nil, "", "-ovalue"},
		{"short-eq", specCreate, []string{"-n=a"}, map[string][]string{"name": {"a"}}, nil, "", "-o=value"},
		{"combined", specExec, []string{"-it", "sh"}, map[string][]string{"interactive": {""}, "tty": {""}}, []string{"sh"}, "", "boolean shorts combine"},
		{"combined-value", specExec, []string{"-ie", "A=1", "sh"}, map[string][]string{"interactive": {""}, "env": {"A=1"}}, []string{"sh"}, "", "a value-taking short ends a group"},
		{"repeat", specCreate, []string{"-e", "A=1", "-e", "B=2"}, map[string][]string{"env": {"A=1", "B=2"}}, nil, "", "repeatable options accumulate"},
		{"repeat-one-value", specCreate, []string{"-e", "A=1", "B=2"}, nil, nil, "unexpected argument 'B=2' found", "one value per occurrence"},
		{"twice", specCreate, []string{"--name", "a", "-n", "b"}, nil, nil, "the argument '--name <NAME>' cannot be used multiple times", "single-valued options once"},
		{"flag-twice", specLs, []string{"--json", "--json"}, nil, nil, "the argument '--json' cannot be used multiple times", "flags once"},
		{"missing", specCreate, []string{"--name"}, nil, nil, "a value is required for '--name <NAME>' but none was supplied", "no value at the end"},
		{"dash-value", specCreate, []string{"--name", "-x"}, nil, nil, "a value is required for '--name <NAME>' but none was supplied", "a dash word is a flag, not a value"},
		{"single-dash-value", specCreate, []string{"--name", "-"}, map[string][]string{"name": {"-"}}, nil, "", "a lone - is a value"},
		{"dashdash", specCreate, []string{"--net", "--", "--mem", "1"}, map[string][]string{"net": {""}}, []string{"--mem", "1"}, "", "-- ends options and is removed"},
		{"dashdash-twice", specCreate, []string{"--", "a", "--", "b"}, map[string][]string{}, []string{"a", "--", "b"}, "", "only the first -- is removed"},
		{"create-positional", specCreate, []string{"myvm"}, nil, nil, "unexpected argument 'myvm' found", "create's COMMAND is last-only"},
		{"exec-trailing", specExec, []string{"echo", "hi", "--name", "vm"}, map[string][]string{}, []string{"echo", "hi", "--name", "vm"}, "", "after COMMAND starts every word is COMMAND's"},
		{"exec-trailing-dd", specExec, []string{"--name", "vm", "echo", "--", "x"}, map[string][]string{"name": {"vm"}}, []string{"echo", "--", "x"}, "", "a later -- belongs to COMMAND"},
		{"exec-required", specExec, []string{"--"}, nil, nil, "the following required arguments were not provided:\n  <COMMAND>...", "COMMAND is required"},
		{"exec-no-n", specExec, []string{"-n", "x", "true"}, nil, nil, "unexpected argument '-n' found", "exec has no -n"},
		{"conflict-order", specExec, []string{"-d", "-t", "x"}, nil, nil, "the argument '--detach' cannot be used with '--tty'", "first given is named first"},
		{"conflict-order2", specExec, []string{"-td", "x"}, nil, nil, "the argument '--tty' cannot be used with '--detach'", "order within a group counts"},
		{"stream-interactive", specExec, []string{"--stream", "-i", "x"}, map[string][]string{"stream": {""}, "interactive": {""}}, []string{"x"}, "", "no conflict"},
		{"bool-value", specCreate, []string{"--net=1"}, nil, nil, "unexpected value '1' for '--net' found; no more were expected", "flags take no value"},
		{"unknown-long", specCreate, []string{"--nam=x"}, nil, nil, "unexpected argument '--nam' found", "no prefix matching"},
		{"cp-pair", specCp, []string{"a", "vm:/b"}, map[string][]string{}, []string{"a", "vm:/b"}, "", "SRC DST"},
		{"cp-three", specCp, []string{"a", "b", "c"}, nil, nil, "unexpected argument 'c' found", "exactly two"},
		{"cp-missing", specCp, []string{"a"}, nil, nil, "the following required arguments were not provided:\n  <DST>", "DST required"},
		{"delete-required", specDelete, []string{"-f"}, nil, nil, "the following required arguments were not provided:\n  --name <NAME>", "--name required"},
		{"value-check", specCreate, []string{"--cpus", "abc"}, nil, nil, "invalid value 'abc' for '--cpus <N>': invalid digit found in string", "value parsers run"},
		{"help-wins", specDelete, []string{"-h"}, map[string][]string{}, nil, "", "help skips required checks"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := parse(tt.spec, tt.argv)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("%s: parse(%q) error = %v, want %q", tt.reason, tt.argv, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("%s: parse(%q): %v", tt.reason, tt.argv, err)
			}
			if diff := cmp.Diff(tt.vals, p.vals); diff != "" {
				t.Errorf("%s: values (-want +got):\n%s", tt.reason, diff)
			}
			if diff := cmp.Diff(tt.args, p.args); diff != "" {
				t.Errorf("%s: args (-want +got):\n%s", tt.reason, diff)
			}
		})
	}
}

func TestClapBlock(t *testing.T) {
	_, err := parse(specExec, []string{"-n"})
	want := "error: unexpected argument '-n' found\n\n  tip: to pass '-n' as a value, use '-- -n'\n\nUsage: smolvm machine exec [OPTIONS] <COMMAND>...\n\nFor more information, try '--help'.\n"
	if diff := cmp.Diff(want, err.(*clapError).block()); diff != "" {
		t.Errorf("usage-bearing block (-want +got):\n%s", diff)
	}
	_, err = parse(specExec, []string{"--timeout", "30", "x"})
	want = "error: invalid value '30' for '--timeout <DURATION>': time unit needed, for example 30sec or 30ms\n\nFor more information, try '--help'.\n"
	if diff := cmp.Diff(want, err.(*clapError).block()); diff != "" {
		t.Errorf("value errors omit Usage (-want +got):\n%s", diff)
	}
}

// TestClapErrors pins the usage lines and tips clap derives from what was
// used (clap_builder's validator and Usage::create_smart_usage).
func TestClapErrors(t *testing.T) {
	tests := []struct {
		name   string
		spec   *cmdSpec
		argv   []string
		want   string
		reason string
	}{
		{"missing-nothing-used", specDelete, nil,
			"error: the following required arguments were not provided:\n  --name <NAME>\n\nUsage: smolvm machine delete [OPTIONS] --name <NAME>\n\nFor more information, try '--help'.\n",
			"nothing used: the ordinary usage"},
		{"missing-smart", specDelete, []string{"-f"},
			"error: the following required arguments were not provided:\n  --name <NAME>\n\nUsage: smolvm machine delete --name <NAME> --force\n\nFor more information, try '--help'.\n",
			"required first, then what was used"},
		{"missing-positional", specExec, []string{"--name", "vm", "--"},
			"error: the following required arguments were not provided:\n  <COMMAND>...\n\nUsage: smolvm machine exec --name <NAME> <COMMAND>...\n\nFor more information, try '--help'.\n",
			"positionals after options"},
		{"missing-dst", specCp, []string{"a"},
			"error: the following required arguments were not provided:\n  <DST>\n\nUsage: smolvm machine cp <SRC> <DST>\n\nFor more information, try '--help'.\n",
			"positionals in index order"},
		{"conflict", specExec, []string{"-itd", "--name", "vm", "true"},
			"error: the argument '--interactive' cannot be used with '--detach'\n\nUsage: smolvm machine exec --interactive --tty --name <NAME> <COMMAND>...\n\nFor more information, try '--help'.\n",
			"the conflicting argument leaves the usage"},
		{"conflict-many", specExec, []string{"-d", "-i", "--stream", "x"},
			"error: the argument '--detach' cannot be used with\n  --interactive\n  --stream\n\nUsage: smolvm machine exec --detach <COMMAND>...\n\nFor more information, try '--help'.\n",
			"several conflicts are listed"},
		{"similar-long", specLs, []string{"--verbos"},
			"error: unexpected argument '--verbos' found\n\n  tip: a similar argument exists: '--verbose'\n\nUsage: smolvm machine ls --verbose\n\nFor more information, try '--help'.\n",
			"a close long flag is suggested and shown as used"},
		{"unknown-long-positionals", specCreate, []string{"--name", "x", "--bogus"},
			"error: unexpected argument '--bogus' found\n\n  tip: to pass '--bogus' as a value, use '-- --bogus'\n\nUsage: smolvm machine create --name <NAME>\n\nFor more information, try '--help'.\n",
			"no close flag: the -- tip where positionals exist"},
		{"unknown-long-none", specLs, []string{"--bogus"},
			"error: unexpected argument '--bogus' found\n\nUsage: smolvm machine ls [OPTIONS]\n\nFor more information, try '--help'.\n",
			"no positionals, no tip"},
		{"bool-value", specCreate, []string{"--net=yes"},
			"error: unexpected value 'yes' for '--net' found; no more were expected\n\nUsage: smolvm machine create --net\n\nFor more information, try '--help'.\n",
			"the flag counts as used"},
		{"positional", specCreate, []string{"myvm"},
			"error: unexpected argument 'myvm' found\n\nUsage: smolvm machine create [OPTIONS] [-- <COMMAND>...]\n\nFor more information, try '--help'.\n",
			"a stray word: no tip, ordinary usage"},
	}
	for _, tt := range tests {
		_, err := parse(tt.spec, tt.argv)
		ce, ok := err.(*clapError)
		if !ok {
			t.Errorf("%s: parse(%q) = %v, want a clap error", tt.name, tt.argv, err)
			continue
		}
		if diff := cmp.Diff(tt.want, ce.block()); diff != "" {
			t.Errorf("%s: %s (-want +got):\n%s", tt.name, tt.reason, diff)
		}
	}
}

func TestJaro(t *testing.T) {
	tests := []struct {
		a, b string
		want float64
	}{
		{"container", "config", (4.0/9 + 4.0/6 + 1) / 3},
		{"foo", "fork", (2.0/3 + 2.0/4 + 1) / 3},
		{"martha", "marhta", (1 + 1 + 5.0/6) / 3},
		{"", "", 1},
		{"a", "", 0},
	}
	for _, tt := range tests {
		if got := jaro(tt.a, tt.b); got-tt.want > 1e-9 || tt.want-got > 1e-9 {
			t.Errorf("jaro(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
	if got := similar("container", topNames); !cmp.Equal(got, []string{"config"}) {
		t.Errorf("similar(container) = %q", got)
	}
}

var fuzzSpecs = []*cmdSpec{specCreate, specRun, specStart, specStop, specDelete, specStatus, specLs, specExec, specShell, specCp, specDataDir}

// canonical re-renders a successful parse with every value attached
// (--opt=value) and every positional after "--".
func canonical(p *parsed) []string {
	var out []string
	for _, f := range p.spec.flags {
		for _, v := range p.vals[f.long] {
			if f.value == "" {
				out = append(out, "--"+f.long)
			} else {
				out = append(out, "--"+f.long+"="+v)
			}
		}
	}
	if len(p.args) > 0 {
		out = append(out, "--")
		out = append(out, p.args...)
	}
	return out
}

// FuzzParse checks that the parser never panics, that every error is a
// well-formed clap block, and that a successful parse means the same thing
// when every option is spelled --opt=value and positionals follow "--".
func FuzzParse(f *testing.F) {
	seeds := []struct {
		spec int
		argv string
	}{
		{0, "--name\x00a\x00--cpus=2\x00-e\x00A=1\x00-eB=2\x00--\x00sleep\x00--mem\x001"},
		{0, "-n=x\x00-v\x00/tmp:/d:ro\x00-p\x008080:80\x00--net"},
		{0, "myvm"},
		{0, "--name\x00-x"},
		{7, "-it\x00--name\x00vm\x00sh\x00-c\x00echo hi"},
		{7, "-itd\x00true"},
		{7, "--timeout=2h 15m\x00--\x00true"},
		{7, "echo\x00--\x00--name\x00x"},
		{7, "-ie\x00A=1\x00-wx\x00cat"},
		{9, "--mode\x00644\x00a\x00vm:/b"},
		{9, "--\x00-a\x00vm:-b"},
		{4, "-fn\x00x"},
		{6, "-vv"},
		{1, "-d\x00-n\x00r\x00--\x00true"},
		{5, "--json=1"},
	}
	for _, s := range seeds {
		f.Add(s.spec, s.argv)
	}
	f.Fuzz(func(t *testing.T, si int, joined string) {
		spec := fuzzSpecs[((si%len(fuzzSpecs))+len(fuzzSpecs))%len(fuzzSpecs)]
		var argv []string
		if joined != "" {
			argv = strings.Split(joined, "\x00")
		}
		p, err := parse(spec, argv)
		if err != nil {
			ce, ok := err.(*clapError)
			if !ok {
				t.Fatalf("parse(%q): non-clap error %v", argv, err)
			}
			b := ce.block()
			if !strings.HasPrefix(b, "error: ") || !strings.HasSuffix(b, "\n\nFor more information, try '--help'.\n") {
				t.Fatalf("malformed block %q", b)
			}
			return
		}
		if p.help {
			return
		}
		canon := canonical(p)
		q, err := parse(spec, canon)
		if err != nil {
			t.Fatalf("parse(%q) ok but canonical %q fails: %v", argv, canon, err)
		}
		if diff := cmp.Diff(p.vals, q.vals); diff != "" {
			t.Fatalf("values differ for %q vs %q (-orig +canon):\n%s", argv, canon, diff)
		}
		if diff := cmp.Diff(p.args, q.args); diff != "" {
			t.Fatalf("args differ for %q vs %q (-orig +canon):\n%s", argv, canon, diff)
		}
	})
}

// TestEveryCommandRuns: each subcommand and alias the fake emulates has a
// spec and a handler, so dispatch never reaches a nil one.
func TestEveryCommandRuns(t *testing.T) {
	for alias, canon := range machineCommands {
		if canon == "" {
			continue
		}
		if specs[canon] == nil || machineHandlers[canon] == nil {
			t.Errorf("machine %s (%s): spec %v, handler %v", alias, canon, specs[canon] != nil, machineHandlers[canon] != nil)
		}
	}
}

// TestMachineHelpListsEverySubcommand: machine --help names every machine
// subcommand the dispatcher knows, emulated or not, except the hidden ones
// and aliases (shown as "[aliases: ...]"), and nothing else.
func TestMachineHelpListsEverySubcommand(t *testing.T) {
	hidden := map[string]bool{"resize": true, "network-test": true}
	aliases := map[string]bool{"rm": true, "list": true, "sh": true}
	listed := map[string]bool{}
	_, body, _ := strings.Cut(machineHelp, "Commands:\n")
	body, _, _ = strings.Cut(body, "\n\n")
	for _, line := range strings.Split(body, "\n") {
		listed[strings.Fields(line)[0]] = true
	}
	for name := range machineCommands {
		if want := !hidden[name] && !aliases[name]; listed[name] != want {
			t.Errorf("machine --help lists %q: %v, want %v", name, listed[name], want)
		}
	}
	for name := range listed {
		if _, ok := machineCommands[name]; !ok && name != "help" {
			t.Errorf("machine --help lists %q, which machine does not dispatch", name)
		}
	}
}
