package fakesmolvm

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
)

// validateName applies smolvm's machine name rules in their order
// (docs/smolvm.md, Machine names).
func validateName(name string) error {
	const label = "machine name"
	switch {
	case name == "":
		return fmt.Errorf("%s cannot be empty", label)
	case len(name) > 128:
		return fmt.Errorf("%s too long: %d characters (max 128)", label, len(name))
	case !isASCIIAlnum(name[0]):
		return fmt.Errorf("%s must start with a letter or digit (got: %s)", label, debugQuote(name))
	case strings.HasSuffix(name, "-"):
		return fmt.Errorf("%s cannot end with a hyphen (got: %s)", label, debugQuote(name))
	}
	prev := rune(0)
	for _, c := range name {
		switch {
		case c == '-' && prev == '-':
			return fmt.Errorf("%s cannot contain consecutive hyphens", label)
		case c == '/' || c == '\\':
			return fmt.Errorf("%s cannot contain path separators", label)
		case c < 128 && (isASCIIAlnum(byte(c)) || c == '_' || c == '-'):
		default:
			return fmt.Errorf("%s contains invalid character: '%c'", label, c)
		}
		prev = c
	}
	return nil
}

func isASCIIAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// debugQuote renders s the way Rust's {:?} renders a str.
func debugQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, c := range s {
		switch c {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if c < 0x20 || c == 0x7f {
				fmt.Fprintf(&b, `\u{%x}`, c)
			} else {
				b.WriteRune(c)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

// generatedName is create's default: vm- and 8 hex digits of 4 random bytes.
func generatedName() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "vm-" + hex.EncodeToString(b[:])
}
