package bottle

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// ErrInvalid is matched (errors.Is) by every error that rejects a machine
// name, user name, env key or other input before anything runs.
var ErrInvalid = errors.New("invalid input")

// invalidError is a validation failure. Its message is the reason alone, so
// a CLI can print it as is.
type invalidError struct{ msg string }

func (e *invalidError) Error() string        { return e.msg }
func (e *invalidError) Is(target error) bool { return target == ErrInvalid }

func invalidf(format string, args ...any) error {
	return &invalidError{msg: fmt.Sprintf(format, args...)}
}

// maxNameLen is smolvm's limit on machine names (docs/smolvm.md, Machine
// names).
const maxNameLen = 128

// ValidateName checks a machine name with smolvm's own rules, in smolvm's
// order and with its wording (docs/smolvm.md, Machine names), so a bad name
// is refused before smolvm runs — and a name such as "-h" never reaches its
// parser.
func ValidateName(name string) error {
	switch {
	case name == "":
		return invalidf("machine name cannot be empty")
	case len(name) > maxNameLen:
		return invalidf("machine name too long: %d characters (max %d)", len(name), maxNameLen)
	case !isASCIIAlnum(name[0]):
		return invalidf("machine name must start with a letter or digit (got: %q)", name)
	case strings.HasSuffix(name, "-"):
		return invalidf("machine name cannot end with a hyphen (got: %q)", name)
	}
	for i, r := range name {
		switch {
		case r == '-' && i+1 < len(name) && name[i+1] == '-':
			return invalidf("machine name cannot contain consecutive hyphens")
		case r == '/' || r == '\\':
			return invalidf("machine name cannot contain path separators")
		case r < utf8.RuneSelf && (isASCIIAlnum(byte(r)) || r == '_' || r == '-'):
		default:
			return invalidf("machine name contains invalid character: '%c'", r)
		}
	}
	return nil
}

func isASCIIAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// userPattern is a conservative POSIX user name: what useradd accepts by
// default on Debian and Alpine, and nothing that could be read as a flag.
var userPattern = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,31}$`)

// ValidateUser checks a guest user name against ^[a-z_][a-z0-9_-]{0,31}$.
func ValidateUser(user string) error {
	if !userPattern.MatchString(user) {
		return invalidf("invalid user name %q: want a POSIX user name matching %s", user, userPattern)
	}
	return nil
}

var envKeyPattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// ValidateEnvKey checks an environment variable name against
// [A-Za-z_][A-Za-z0-9_]*. A key with "=" would shift the value boundary and a
// key starting with "-" would be read as a flag; both are refused.
func ValidateEnvKey(key string) error {
	if !envKeyPattern.MatchString(key) {
		return invalidf("invalid env key %q: want [A-Za-z_][A-Za-z0-9_]*", key)
	}
	return nil
}

// noNUL refuses a NUL byte: neither argv nor the environment can carry one,
// and exec would fail later with a less helpful message.
func noNUL(what, s string) error {
	if strings.IndexByte(s, 0) >= 0 {
		return invalidf("%s contains a NUL byte", what)
	}
	return nil
}
