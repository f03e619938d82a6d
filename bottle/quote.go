package bottle

import "strings"

// ShellQuote renders argv as one POSIX shell command line that sh splits
// back into exactly the same words. Words made only of safe characters are
// left bare; every other word is single-quoted (a newline stays literal
// inside the quotes, which sh preserves).
func ShellQuote(argv []string) string {
	var b strings.Builder
	for i, w := range argv {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(quoteWord(w, i == 0))
	}
	return b.String()
}

func quoteWord(w string, first bool) string {
	if w != "" && strings.IndexFunc(w, func(r rune) bool { return !isSafe(r) }) < 0 &&
		!(first && strings.ContainsRune(w, '=')) { // a first word with "=" would be an assignment
		return w
	}
	return "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
}

func isSafe(r rune) bool {
	switch {
	case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9':
		return true
	}
	return strings.ContainsRune("@%+=:,./-_", r)
}
