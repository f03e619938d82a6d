package fakesmolvm

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// A small clap-like parser (docs/smolvm.md, Argument parsing). Each command is
// described by a cmdSpec; parse turns argv into values or a clapError whose
// text is the block clap would print (exit 2).

// flagSpec is one option. A flag with an empty value name is a boolean.
type flagSpec struct {
	long   string
	short  byte   // 0 = no short form
	value  string // value name as in "<NAME>"; "" = boolean
	repeat bool   // may be given several times, one value each
	check  func(string) error
	values []string // a clap value enum: the possible values, in order
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
	requires  [][2]string // {a, b}: a given without b is a missing-argument error
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
	order  []string            // used arguments in command-line order: long names, positionals as #0, #1
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
	msg     string
	similar string   // "  tip: a similar ... exists: ..." line, or ""
	tips    []string // further "  tip: " lines
	usage   string   // "" omits the Usage paragraph (value-validation errors)
}

func (e *clapError) Error() string { return e.msg }

// block is the exact stderr text, laid out as clap's rich formatter does.
func (e *clapError) block() string {
	var b strings.Builder
	b.WriteString("error: " + e.msg)
	if e.similar != "" || len(e.tips) > 0 {
		b.WriteString("\n")
	}
	if e.similar != "" {
		b.WriteString("\n" + e.similar)
	}
	for _, t := range e.tips {
		b.WriteString("\n  tip: " + t)
	}
	if e.usage != "" {
		b.WriteString("\n\nUsage: " + e.usage)
	}
	b.WriteString("\n\nFor more information, try '--help'.\n")
	return b.String()
}

// invalidEnumValue is clap's error for a value outside a value enum: the
// possible values on their own line, the closest one as a tip, no usage.
// An empty value reads "a value is required".
func invalidEnumValue(f *flagSpec, val string) error {
	msg := fmt.Sprintf("invalid value '%s' for '%s'", val, f.display())
	if val == "" {
		msg = fmt.Sprintf("a value is required for '%s' but none was supplied", f.display())
	}
	e := &clapError{msg: msg + "\n  [possible values: " + strings.Join(f.values, ", ") + "]"}
	if cands := similar(val, f.values); len(cands) > 0 {
		e.similar = fmt.Sprintf("  tip: a similar value exists: '%s'", cands[len(cands)-1])
	}
	return e
}

// looksLikeFlag is clap's test for "this word is not a value".
func looksLikeFlag(s string) bool { return len(s) > 1 && s[0] == '-' }

// posID names a positional in parsed.order.
func posID(i int) string { return fmt.Sprintf("#%d", i) }

// smartUsage is clap's usage line for errors that know which arguments were
// used: the command, then its required arguments and the used ones (options
// in order of first mention, then positionals in index order), without
// [OPTIONS]. With nothing used it is the ordinary usage line.
func (c *cmdSpec) smartUsage(used []string) string {
	if len(used) == 0 {
		return c.usage
	}
	ids := []string{}
	seen := map[string]bool{}
	add := func(id string) {
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	for _, r := range c.required {
		add(r)
	}
	if c.posReq {
		for i := range c.posNames {
			add(posID(i))
		}
	}
	for _, u := range used {
		add(u)
	}
	parts := []string{"smolvm " + c.name}
	var pos []string
	for _, id := range ids {
		if strings.HasPrefix(id, "#") {
			continue
		}
		parts = append(parts, c.long(id).display())
	}
	for i, n := range c.posNames {
		if seen[posID(i)] {
			// Required form: "[COMMAND]..." reads "<COMMAND>...".
			n = strings.NewReplacer("[", "<", "]", ">").Replace(n)
			pos = append(pos, n)
		}
	}
	return strings.Join(append(parts, pos...), " ")
}

// unknownArg is clap's error for a flag it does not know. A long flag close
// to a known one gets a "similar argument" tip (and the usage shows it as
// used); otherwise a command with positionals suggests "-- WORD".
func (c *cmdSpec) unknownArg(word string, used []string, long bool) error {
	e := &clapError{msg: fmt.Sprintf("unexpected argument '%s' found", word), usage: c.usage}
	if long {
		longs := []string{}
		for _, f := range c.flags {
			longs = append(longs, f.long)
		}
		longs = append(longs, "help")
		if cands := similar(strings.TrimPrefix(word, "--"), longs); len(cands) > 0 {
			best := cands[len(cands)-1]
			e.similar = fmt.Sprintf("  tip: a similar argument exists: '--%s'", best)
			if f := c.long(best); f != nil {
				used = append(used, best)
			}
			e.usage = c.smartUsage(used)
			return e
		}
		e.usage = c.smartUsage(used)
	}
	if c.pos != posNone {
		e.tips = []string{fmt.Sprintf("to pass '%s' as a value, use '-- %s'", word, word)}
	}
	return e
}

// unknownSubcommand is clap's error for a word where a subcommand belongs,
// with a tip naming the close subcommands (names holds every name and
// alias, hidden ones too).
func unknownSubcommand(word, usage string, names []string) error {
	e := &clapError{msg: fmt.Sprintf("unrecognized subcommand '%s'", word), usage: usage}
	switch cands := similar(word, names); len(cands) {
	case 0:
	case 1:
		e.similar = fmt.Sprintf("  tip: a similar subcommand exists: '%s'", cands[0])
	default:
		e.similar = "  tip: some similar subcommands exist: '" + strings.Join(cands, "', '") + "'"
	}
	return e
}

// similar is clap's did_you_mean: candidates with a Jaro similarity above
// 0.7, least similar first.
func similar(v string, candidates []string) []string {
	type scored struct {
		score float64
		name  string
	}
	var out []scored
	for _, c := range candidates {
		if s := jaro(v, c); s > 0.7 {
			out = append(out, scored{s, c})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].score < out[j].score })
	names := make([]string, len(out))
	for i, s := range out {
		names[i] = s.name
	}
	return names
}

// jaro is the Jaro similarity of strsim, over characters.
func jaro(a, b string) float64 {
	ar, br := []rune(a), []rune(b)
	if len(ar) == 0 && len(br) == 0 {
		return 1
	}
	if len(ar) == 0 || len(br) == 0 {
		return 0
	}
	window := max(len(ar), len(br))/2 - 1
	if window < 0 {
		window = 0
	}
	af, bf := make([]bool, len(ar)), make([]bool, len(br))
	matches := 0
	for i, ac := range ar {
		lo, hi := max(0, i-window), min(len(br), i+window+1)
		for j := lo; j < hi; j++ {
			if !bf[j] && br[j] == ac {
				af[i], bf[j] = true, true
				matches++
				break
			}
		}
	}
	if matches == 0 {
		return 0
	}
	t, j := 0, 0
	for i := range ar {
		if !af[i] {
			continue
		}
		for !bf[j] {
			j++
		}
		if ar[i] != br[j] {
			t++
		}
		j++
	}
	m := float64(matches)
	return (m/float64(len(ar)) + m/float64(len(br)) + (m-float64(t/2))/m) / 3
}

func parse(spec *cmdSpec, argv []string) (*parsed, error) {
	p := &parsed{spec: spec, vals: map[string][]string{}, first: map[string]int{}}
	used := func() []string { return append([]string(nil), p.order...) }
	unexpected := func(w string) error {
		return &clapError{msg: fmt.Sprintf("unexpected argument '%s' found", w), usage: spec.usage}
	}
	set := func(f *flagSpec, val string) error {
		if prev, ok := p.vals[f.long]; ok && !f.repeat && len(prev) > 0 {
			return &clapError{msg: fmt.Sprintf("the argument '%s' cannot be used multiple times", f.display()), usage: spec.usage}
		}
		if len(f.values) > 0 && !slices.Contains(f.values, val) {
			return invalidEnumValue(f, val)
		}
		if f.check != nil {
			if err := f.check(val); err != nil {
				return &clapError{msg: fmt.Sprintf("invalid value '%s' for '%s': %v", val, f.display(), err)}
			}
		}
		if _, ok := p.first[f.long]; !ok {
			p.first[f.long] = len(p.first)
			p.order = append(p.order, f.long)
		}
		p.vals[f.long] = append(p.vals[f.long], val)
		return nil
	}
	addPos := func(w string) {
		id := posID(0)
		if spec.pos == posPair {
			id = posID(len(p.args))
		}
		if len(p.args) == 0 || spec.pos == posPair {
			p.order = append(p.order, id)
		}
		p.args = append(p.args, w)
	}
	noValue := func(f *flagSpec) error {
		return &clapError{msg: fmt.Sprintf("a value is required for '%s' but none was supplied", f.display())}
	}
	i := 0
	// nextValue takes the word after flag f as its value.
	nextValue := func(f *flagSpec) (string, error) {
		if i+1 >= len(argv) || looksLikeFlag(argv[i+1]) {
			return "", noValue(f)
		}
		i++
		return argv[i], nil
	}
	trailing := false // every remaining word is positional
	for ; i < len(argv); i++ {
		a := argv[i]
		switch {
		case trailing:
			addPos(a)
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
				return nil, spec.unknownArg("--"+name, used(), true)
			}
			if f.value == "" {
				if hasEq {
					u := used()
					if _, ok := p.first[f.long]; !ok {
						u = append(u, f.long)
					}
					return nil, &clapError{msg: fmt.Sprintf("unexpected value '%s' for '%s' found; no more were expected", val, f.display()), usage: spec.smartUsage(u)}
				}
				if err := set(f, ""); err != nil {
					return nil, err
				}
				continue
			}
			if !hasEq {
				var err error
				if val, err = nextValue(f); err != nil {
					return nil, err
				}
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
					return nil, spec.unknownArg("-"+string(rune(c)), nil, false)
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
					var err error
					if val, err = nextValue(f); err != nil {
						return nil, err
					}
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
			addPos(a)
		case posPair:
			if len(p.args) >= 2 {
				return nil, unexpected(a)
			}
			addPos(a)
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
	// Conflicts, then required arguments, as clap's validator does: the
	// first used argument (in command-line order) that conflicts with others
	// used is named, with every one it conflicts with.
	for _, id := range p.order {
		var others []string
		for _, o := range p.order {
			for _, c := range spec.conflicts {
				if (c[0] == id && c[1] == o) || (c[1] == id && c[0] == o) {
					others = append(others, o)
				}
			}
		}
		if len(others) == 0 {
			continue
		}
		var rest []string
		for _, u := range p.order {
			if !slices.Contains(others, u) {
				rest = append(rest, u)
			}
		}
		msg := fmt.Sprintf("the argument '%s' cannot be used with", spec.long(id).display())
		if len(others) == 1 {
			msg += fmt.Sprintf(" '%s'", spec.long(others[0]).display())
		} else {
			for _, o := range others {
				msg += "\n  " + spec.long(o).display()
			}
		}
		return nil, &clapError{msg: msg, usage: spec.smartUsage(rest)}
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
			usage: spec.smartUsage(used()),
		}
	}
	// Arguments another one requires: listed first in the usage line, as
	// clap lists what is required before what was used.
	for _, r := range spec.requires {
		if p.has(r[0]) && !p.has(r[1]) {
			return nil, &clapError{
				msg:   "the following required arguments were not provided:\n  " + spec.long(r[1]).display(),
				usage: spec.smartUsage(append([]string{r[1]}, used()...)),
			}
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
		help := f.help
		if len(f.values) > 0 {
			help = strings.TrimSpace(help + " [possible values: " + strings.Join(f.values, ", ") + "]")
		}
		rows = append(rows, row{left, help})
		width = max(width, len(left))
	}
	rows = append(rows, row{"-h, --help", "Print help"})
	width = max(width, len("-h, --help"))
	for _, r := range rows {
		fmt.Fprintf(&b, "  %-*s  %s\n", width, r.left, r.help)
	}
	return b.String()
}
