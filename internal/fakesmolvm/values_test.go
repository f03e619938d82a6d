package fakesmolvm

import (
	"testing"
	"time"
)

func TestHumantime(t *testing.T) {
	tests := []struct {
		in     string
		want   time.Duration
		err    string
		reason string
	}{
		{"500ms", 500 * time.Millisecond, "", "millis"},
		{"30s", 30 * time.Second, "", "seconds"},
		{"10sec", 10 * time.Second, "", "long unit spelling"},
		{"5m", 5 * time.Minute, "", "minutes"},
		{"2h 15m", 2*time.Hour + 15*time.Minute, "", "several parts"},
		{"1h30m", 90 * time.Minute, "", "parts without space"},
		{"30", 0, "time unit needed, for example 30sec or 30ms", "bare number"},
		{"5x", 0, `unknown time unit "x", supported units: ns, us, ms, sec, min, hours, days, weeks, months, years (and few variations)`, "bad unit"},
		{"", 0, "value was empty", "empty"},
		{"s", 0, "expected number at 0", "no number"},
	}
	for _, tt := range tests {
		got, err := parseHumantime(tt.in)
		switch {
		case tt.err != "" && (err == nil || err.Error() != tt.err):
			t.Errorf("%s: parseHumantime(%q) error = %v, want %q", tt.reason, tt.in, err, tt.err)
		case tt.err == "" && (err != nil || got != tt.want):
			t.Errorf("%s: parseHumantime(%q) = %v, %v; want %v", tt.reason, tt.in, got, err, tt.want)
		}
	}
	if _, err := parseTimeout("0s"); err == nil || err.Error() != "timeout must be greater than 0 (e.g., 5sec, 30s)" {
		t.Errorf("zero timeout: %v", err)
	}
}

func TestParseMode(t *testing.T) {
	for in, want := range map[string]uint32{"644": 0o644, "0755": 0o755, "0o600": 0o600, "7777": 0o7777} {
		if got, err := parseMode(in); err != nil || got != want {
			t.Errorf("parseMode(%q) = %o, %v; want %o", in, got, err, want)
		}
	}
	for _, in := range []string{"", "8", "10000", "rw", "0o", "-1"} {
		if _, err := parseMode(in); err == nil || err.Error() != "config operation failed: cp: invalid octal mode '"+in+"' (expected e.g. 644)" {
			t.Errorf("parseMode(%q) error = %v", in, err)
		}
	}
}

func TestPaths(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	tests := []struct {
		env         map[string]string
		cache, data string
		reason      string
	}{
		{map[string]string{"HOME": "/h"}, "/h/.cache/smolvm", "/h/.local/share/smolvm", "defaults under HOME"},
		{map[string]string{"HOME": "/h", "XDG_CACHE_HOME": "/c", "XDG_DATA_HOME": "/d"}, "/c/smolvm", "/d/smolvm", "absolute XDG dirs win"},
		{map[string]string{"HOME": "/h", "XDG_CACHE_HOME": "rel"}, "/h/.cache/smolvm", "/h/.local/share/smolvm", "relative XDG dirs are ignored"},
		{map[string]string{"HOME": "/h", "XDG_CACHE_HOME": "/c", "SMOLVM_DATA_DIR": "/s"}, "/s/.cache/smolvm", "/s/.local/share/smolvm", "SMOLVM_DATA_DIR moves HOME and clears XDG"},
	}
	for _, tt := range tests {
		p := resolvePaths(env(tt.env))
		if p.cache != tt.cache || p.data != tt.data {
			t.Errorf("%s: got %+v", tt.reason, p)
		}
	}
	p := paths{cache: "/c/smolvm"}
	for name, want := range map[string]string{"default": "/c/smolvm/vms/37a8eec1ce19687d", "myvm": "/c/smolvm/vms/c3ea52707db9769e"} {
		if got := p.machineDir(name); got != want {
			t.Errorf("machineDir(%q) = %s, want %s", name, got, want)
		}
	}
}

func TestValidateName(t *testing.T) {
	tests := map[string]string{
		"ok_name-1": "",
		"":          "machine name cannot be empty",
		"-x":        `machine name must start with a letter or digit (got: "-x")`,
		"x-":        `machine name cannot end with a hyphen (got: "x-")`,
		"a--b":      "machine name cannot contain consecutive hyphens",
		"a/b":       "machine name cannot contain path separators",
		`a\b`:       "machine name cannot contain path separators",
		"a b":       "machine name contains invalid character: ' '",
		"é":         `machine name must start with a letter or digit (got: "é")`,
		"aé":        "machine name contains invalid character: 'é'",
		string(make([]byte, 0)) + "x" + string(make([]byte, 0)): "",
	}
	for in, want := range tests {
		err := validateName(in)
		if got := ""; err != nil {
			got = err.Error()
			if got != want {
				t.Errorf("validateName(%q) = %q, want %q", in, got, want)
			}
		} else if want != "" {
			t.Errorf("validateName(%q) = nil, want %q", in, want)
		}
	}
}
