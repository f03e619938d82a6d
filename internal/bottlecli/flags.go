package bottlecli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/smolbottle/smolbottle/bottle"
)

// flagSet is a flag.FlagSet with the help text it prints for -h.
type flagSet struct {
	*flag.FlagSet
	usage string
}

func newFlags(name, usage string) *flagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return &flagSet{FlagSet: fs, usage: usage}
}

// parse parses args; -h prints the help on stdout, a bad flag is a usage
// error naming the command.
func (c *cli) parse(fs *flagSet, args []string) error {
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		c.help(fs)
		return errHelpShown
	}
	if err != nil {
		return usageErrorf("%s: %v (see 'bottle %s -h')", fs.Name(), err, fs.Name())
	}
	return nil
}

func (c *cli) help(fs *flagSet) {
	fmt.Fprint(c.stdout, fs.usage)
	first := true
	fs.VisitAll(func(f *flag.Flag) {
		if first {
			fmt.Fprint(c.stdout, "\nFlags:\n")
			first = false
		}
		arg, usage := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if arg != "" {
			line += " " + arg
		}
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
			usage += fmt.Sprintf(" (default %q)", f.DefValue)
		}
		fmt.Fprintf(c.stdout, "%s\n      %s\n", line, usage)
	})
}

// envList is a repeatable --env K=V flag that keeps insertion order.
type envList []bottle.EnvVar

func (e *envList) String() string { return "" }

func (e *envList) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok {
		return fmt.Errorf("want KEY=VALUE, got %q", s)
	}
	if err := bottle.ValidateEnvKey(k); err != nil {
		return err
	}
	*e = append(*e, bottle.EnvVar{Key: k, Value: v})
	return nil
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string { return "" }

func (l *stringList) Set(s string) error {
	*l = append(*l, s)
	return nil
}

// targetFlags are the flags that address a machine and what every exec
// re-passes.
type targetFlags struct {
	name      string
	env       envList
	secrets   stringList
	guestUser string
}

func (tf *targetFlags) register(fs *flagSet, withEnv bool) {
	fs.StringVar(&tf.name, "name", "", "machine `NAME` (required)")
	if withEnv {
		fs.Var(&tf.env, "env", "guest env `K=V` passed on every exec, in order (repeatable)")
		fs.Var(&tf.secrets, "secret-env", "pass `KEY` from bottle's environment; the value never appears in argv (repeatable)")
		fs.StringVar(&tf.guestUser, "guest-user", "", "the `USER` smolvm exec runs as by default (root: switch with runuser; that user: no switch)")
	}
}

// target resolves the flags into a bottle.Target.
func (tf *targetFlags) target(c *cli) (bottle.Target, error) {
	if tf.name == "" {
		return bottle.Target{}, usageErrorf("--name is required")
	}
	t := bottle.Target{
		Program:   c.program(),
		Name:      tf.name,
		Env:       tf.env,
		GuestUser: tf.guestUser,
	}
	secrets, err := c.secrets(tf.secrets)
	if err != nil {
		return bottle.Target{}, err
	}
	t.Secrets = secrets
	return t, nil
}

// secrets reads the --secret-env KEYs from bottle's environment (nil for
// none).
func (c *cli) secrets(keys []string) (map[string]string, error) {
	var m map[string]string
	for _, k := range keys {
		if err := bottle.ValidateEnvKey(k); err != nil {
			return nil, fmt.Errorf("--secret-env: %w", err)
		}
		v, ok := c.lookupEnv(k)
		if !ok {
			return nil, usageErrorf("--secret-env %s: %s is not set in bottle's environment", k, k)
		}
		if m == nil {
			m = map[string]string{}
		}
		m[k] = v
	}
	return m, nil
}
