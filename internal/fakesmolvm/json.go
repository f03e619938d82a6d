package fakesmolvm

import (
	"bytes"
	"encoding/json"
)

// marshalJSON encodes v as serde_json does (docs/smolvm.md, output details):
// "&", "<" and ">" as themselves, and U+2028 and U+2029 unescaped, which
// encoding/json would write as \u0026, \u003c, \u003e, \u2028 and \u2029.
// With pretty it indents by two spaces, like serde_json's pretty printer.
// Everything the fake prints or writes as JSON goes through it.
func marshalJSON(v any, pretty bool) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if pretty {
		enc.SetIndent("", "  ")
	}
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	b := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if !bytes.Contains(b, []byte(`\u202`)) {
		return b, nil
	}
	// Every backslash in encoding/json's output starts an escape inside a
	// string, so a scan that steps over each escape whole sees only real
	// \u2028 and \u2029 escapes.
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' || i+1 >= len(b) {
			out = append(out, b[i])
			continue
		}
		switch string(b[i:min(i+6, len(b))]) {
		case `\u2028`:
			out = append(out, "\u2028"...)
			i += 5
			continue
		case `\u2029`:
			out = append(out, "\u2029"...)
			i += 5
			continue
		}
		out = append(out, b[i], b[i+1])
		i++
	}
	return out, nil
}
