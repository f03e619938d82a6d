package fakesmolvm

import (
	"fmt"
	"strings"
)

// A small clap-like parser (smolvm-cli.md §1.2). Each command is described
// by a cmdSpec; parse turns argv into values or a clapError whose text is
// the block clap would print (exit 2).

// flagSpec is one option. A flag with an empty value name is a boolean.
type flagSpec struct {
	long   string
	short  byte   // 0 = no short form
	value  string // value name as in "<NAME>"; "" = boolean
	repeat bool   // may be given several times, one value each
	check  func(string) error
	help   string
}

// display is the name clap shows in messages: "--name <NAME>" or "--json".
func (f *flagSpec) display() string {
	if f.value == "" {
		return "--" + f.long
	}
	return "--" + f.long + " <" + f.value + ">"
}

// posKind says what positional words a command takes.
type posKind int

const (
	posNone     posKind = iota
	posLast             // only after "--" (create's COMMAND)
	posTrailing         // the first positional starts COMMAND; every later word belongs to it (exec)
	posPair             // exactly SRC DST (cp)
)

type cmdSpec struct {
	name      string // full path after "smolvm", e.g. "machine create"
	about     string
	usage     string // without the "Usage: " prefix
	flags     []flagSpec
	pos       posKind
	posNames  []string // for required-argument messages and help
	posReq    bool
	required  []string    // long names that must be given
	conflicts [][2]string // long names that cannot be used together
}

func (c *cmdSpec) long(name string) *flagSpec {
	for i := range c.flags {
		if c.flags[i].long == name {
			return &c.flags[i]
		}
	}
	return nil
}

func (c *cmdSpec) short(b byte) *flagSpec {
	for i := range c.flags {
		if c.flags[i].short == b && b != 0 {
			return &c.flags[i]
		}
	}
	return nil
}

// parsed is the result of a successful parse.
type parsed struct {
	spec   *cmdSpec
	vals   map[string][]string // by long name; booleans hold one ""
	first  map[string]int      // order of each flag's first use
	args   []string            // positional words
	help   bool                // -h or --help was given
	dashes bool                // a "--" ended option parsing
}

func (p *parsed) has(long string) bool { _, ok := p.vals[long]; return ok }

func (p *parsed) get(long string) (string, bool) {
	v, ok := p.vals[long]
	if !ok || len(v) == 0 {
		return "", false
	}
	return v[len(v)-1], true
}

func (p *parsed) all(long string) []string { return p.vals[long] }

// clapError is an argument-parsing failure, printed as clap's error block.
type clapError struct {
	msg   string
	usage string // "" omits the Usage paragraph (value-validation errors)
}

func (e *clapError) Error() string { return e.msg }

// block is the exact stderr text.
func (e *clapError) block() string {
	var b strings.Builder
	b.WriteString("error: " + e.msg + "\n\n")
	if e.usage != "" {
		b.WriteString("Usage: " + e.usage + "\n\n")
	}
	b.WriteString("For more information, try '--help'.\n")
	return b.String()
}

// looksLikeFlag is clap's test for "this word is not a value".
func looksLikeFlag(s string) bool { return len(s) > 1 && s[0] == '-' }

func parse(spec *cmdSpec, argv []string) (*parsed, error) {
	p := &parsed{spec: spec, vals: map[string][]string{}, first: map[string]int{}}
	unexpected := func(w string) error {
		return &clapError{msg: fmt.Sprintf("unexpected argument '%s' found", w), usage: spec.usage}
	}
	set := func(f *flagSpec, val string) error {
		if prev, ok := p.vals[f.long]; ok && !f.repeat && len(prev) > 0 {
			return &clapError{msg: fmt.Sprintf("the argument '%s' cannot be used multiple times", f.display()), usage: spec.usage}
		}
		if f.check != nil {
			if err := f.check(val); err != nil {
				return &clapError{msg: fmt.Sprintf("invalid value '%s' for '%s': %v", val, f.display(), err)}
			}
		}
		if _, ok := p.first[f.long]; !ok {
			p.first[f.long] = len(p.first)
		}
		p.vals[f.long] = append(p.vals[f.long], val)
		return nil
	}
	noValue := func(f *flagSpec) error {
		return &clapError{msg: fmt.Sprintf("a value is required for '%s' but none was supplied", f.display())}
	}
	trailing := false // every remaining word is positional
	for i := 0; i < len(argv); i++ {
		a := argv[i]
		switch {
		case trailing:
			p.args = append(p.args, a)
			continue
		case a == "--":
			p.dashes = true
			trailing = true
			if spec.pos == posNone && i+1 < len(argv) {
				return nil, unexpected(argv[i+1])
			}
			continue
		case strings.HasPrefix(a, "--"):
			name, val, hasEq := strings.Cut(a[2:], "=")
			if name == "help" && spec.long("help") == nil {
				p.help = true
				continue
			}
			f := spec.long(name)
			if f == nil {
				return nil, unexpected("--" + name)
			}
			if f.value == "" {
				if hasEq {
					return nil, &clapError{msg: fmt.Sprintf("unexpected value '%s' for '%s' found; no more were expected", val, f.display()), usage: spec.usage}
				}
				if err := set(f, ""); err != nil {
					return nil, err
				}
				continue
			}
			if !hasEq {
				if i+1 >= len(argv) || looksLikeFlag(argv[i+1]) {
					return nil, noValue(f)
				}
				i++
				val = argv[i]
			}
			if err := set(f, val); err != nil {
				return nil, err
			}
			continue
		case looksLikeFlag(a):
			for j := 1; j < len(a); j++ {
				c := a[j]
				if c == 'h' && spec.short('h') == nil {
					p.help = true
					continue
				}
				f := spec.short(c)
				if f == nil {
					return nil, unexpected("-" + string(rune(c)))
				}
				if f.value == "" {
					if err := set(f, ""); err != nil {
						return nil, err
					}
					continue
				}
				val := a[j+1:]
				if strings.HasPrefix(val, "=") {
					val = val[1:]
				} else if val == "" {
					if i+1 >= len(argv) || looksLikeFlag(argv[i+1]) {
						return nil, noValue(f)
					}
					i++
					val = argv[i]
				}
				if err := set(f, val); err != nil {
					return nil, err
				}
				break
			}
			continue
		}
		// A positional word before any "--".
		switch spec.pos {
		case posTrailing:
			trailing = true
			p.args = append(p.args, a)
		case posPair:
			if len(p.args) >= 2 {
				return nil, unexpected(a)
			}
			p.args = append(p.args, a)
		default:
			return nil, unexpected(a)
		}
	}
	if p.help {
		return p, nil
	}
	if spec.pos == posPair && len(p.args) > 2 {
		return nil, unexpected(p.args[2])
	}
	// Conflicts, then required arguments, as clap's validator does.
	for _, c := range spec.conflicts {
		ia, oka := p.first[c[0]]
		ib, okb := p.first[c[1]]
		if !oka || !okb {
			continue
		}
		a, b := spec.long(c[0]), spec.long(c[1])
		if ib < ia {
			a, b = b, a
		}
		return nil, &clapError{msg: fmt.Sprintf("the argument '%s' cannot be used with '%s'", a.display(), b.display()), usage: spec.usage}
	}
	var missing []string
	for _, r := range spec.required {
		if !p.has(r) {
			missing = append(missing, spec.long(r).display())
		}
	}
	if spec.posReq {
		for i, n := range spec.posNames {
			if len(p.args) <= i {
				missing = append(missing, n)
			}
		}
	}
	if len(missing) > 0 {
		return nil, &clapError{
			msg:   "the following required arguments were not provided:\n  " + strings.Join(missing, "\n  "),
			usage: spec.usage,
		}
	}
	return p, nil
}

// helpText renders a command's --help page from its spec.
func helpText(spec *cmdSpec) string {
	var b strings.Builder
	if spec.about != "" {
		b.WriteString(spec.about + "\n\n")
	}
	b.WriteString("Usage: " + spec.usage + "\n")
	if len(spec.posNames) > 0 {
		b.WriteString("\nArguments:\n")
		for _, n := range spec.posNames {
			b.WriteString("  " + n + "\n")
		}
	}
	b.WriteString("\nOptions:\n")
	type row struct{ left, help string }
	rows := []row{}
	width := 0
	for _, f := range spec.flags {
		left := "    "
		if f.short != 0 {
			left = "-" + string(rune(f.short)) + ", "
		}
		left += f.display()
		rows = append(rows, row{left, f.help})
		width = max(width, len(left))
	}
	rows = append(rows, row{"-h, --help", "Print help"})
	width = max(width, len("-h, --help"))
	for _, r := range rows {
		fmt.Fprintf(&b, "  %-*s  %s\n", width, r.left, r.help)
	}
	return b.String()
}
