package fakesmolvm

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParsePort(t *testing.T) {
	tests := []struct {
		in     string
		want   portMap
		err    string
		reason string
	}{
		{"8080:80", portMap{8080, 80}, "", "host and guest"},
		{"9090", portMap{9090, 9090}, "", "one port maps to itself"},
		{"+8080:+80", portMap{8080, 80}, "", "Rust's u16 parse takes a leading +"},
		{"65535:1", portMap{65535, 1}, "", "largest port"},
		{"x:80", portMap{}, "invalid host port: x", "host not a number"},
		{"0:x", portMap{}, "host port 0 is not valid for VM port forwarding", "host is checked before the guest"},
		{"80:x", portMap{}, "invalid guest port: x", "guest not a number"},
		{"80:0", portMap{}, "guest port 0 is not valid for VM port forwarding", "guest 0"},
		{"80:90:1", portMap{}, "invalid guest port: 90:1", "split at the first colon"},
		{":80", portMap{}, "invalid host port: ", "empty host"},
		{"0", portMap{}, "port 0 is not valid for VM port forwarding", "lone 0 has its own message"},
		{"65536", portMap{}, "invalid port: 65536", "out of range"},
		{"-1", portMap{}, "invalid port: -1", "negative"},
		{"", portMap{}, "invalid port: ", "empty"},
	}
	for _, tt := range tests {
		got, err := parsePort(tt.in)
		switch {
		case tt.err != "" && (err == nil || err.Error() != tt.err):
			t.Errorf("%s: parsePort(%q) error = %v, want %q", tt.reason, tt.in, err, tt.err)
		case tt.err == "" && (err != nil || got != tt.want):
			t.Errorf("%s: parsePort(%q) = %v, %v; want %v", tt.reason, tt.in, got, err, tt.want)
		}
	}
}

func TestValueChecks(t *testing.T) {
	tests := []struct {
		check  func(string) error
		in     string
		err    string
		reason string
	}{
		{checkIPv4, "1.1.1.1", "", "IPv4"},
		{checkIPv4, "255.255.255.255", "", "largest octets"},
		{checkIPv4, "0.0.0.0", "", "zero octets"},
		{checkIPv4, "notanip", "invalid IPv4 address syntax", "not an address"},
		{checkIPv4, "::1", "invalid IPv4 address syntax", "IPv6 is refused"},
		{checkIPv4, "1.1.1", "invalid IPv4 address syntax", "three octets"},
		{checkIPv4, "1.1.1.1.1", "invalid IPv4 address syntax", "five octets"},
		{checkIPv4, "256.1.1.1", "invalid IPv4 address syntax", "octet above 255"},
		{checkIPv4, "01.1.1.1", "invalid IPv4 address syntax", "leading zero"},
		{checkIPv4, "1.1.1.1:53", "invalid IPv4 address syntax", "port"},
		{checkIPv4, " 1.1.1.1", "invalid IPv4 address syntax", "space"},
		{checkIPv4, "+1.1.1.1", "invalid IPv4 address syntax", "sign"},
		{checkCIDR, "10.0.0.0/8", "", "IPv4 network"},
		{checkCIDR, "1.1.1.1", "", "bare address"},
		{checkCIDR, "fd00::/8", "", "IPv6 network"},
		{checkCIDR, "10.0.0.0/33", "invalid CIDR '10.0.0.0/33': expected format like 10.0.0.0/8 or 1.1.1.1", "prefix too long"},
		{checkCIDR, "fe80::1%eth0", "invalid CIDR 'fe80::1%eth0': expected format like 10.0.0.0/8 or 1.1.1.1", "zone"},
		{checkCIDR, "010.0.0.0/8", "invalid CIDR '010.0.0.0/8': expected format like 10.0.0.0/8 or 1.1.1.1", "leading zero"},
		{checkGPUVRAM, "4096", "", "MiB"},
		{checkGPUVRAM, "0", "--gpu-vram must be a positive number of MiB; use a value >= 1 or omit the flag to get the default", "zero"},
		{checkGPUVRAM, "2.5", "'2.5' is not a valid MiB value", "fraction"},
		{checkSize, "16GiB", "", "GiB"},
		{checkSize, "1.5G", "", "fraction with unit"},
		{checkSize, "1024", "", "bytes"},
		{checkSize, "", "size must not be empty", "empty"},
		{checkSize, "0", "size '0' must be greater than zero", "zero"},
		{checkSize, "abc", "'abc' is not a valid size (expected a number, optional K/M/G/T)", "no number"},
		{checkSize, "10X", "invalid size unit 'x' in '10X' (use K, M, G, or T)", "bad unit"},
	}
	for _, tt := range tests {
		err := tt.check(tt.in)
		if got := errString(err); got != tt.err {
			t.Errorf("%s: check(%q) = %q, want %q", tt.reason, tt.in, got, tt.err)
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestEnumValueError(t *testing.T) {
	_, err := parse(specCreate, []string{"--net-backend", "virtio"})
	want := "error: invalid value 'virtio' for '--net-backend <NET_BACKEND>'\n  [possible values: tsi, virtio-net]\n\n  tip: a similar value exists: 'virtio-net'\n\nFor more information, try '--help'.\n"
	if ce, ok := err.(*clapError); !ok || ce.block() != want {
		t.Errorf("bad enum value: got %v, want block %q", err, want)
	}
	_, err = parse(specCreate, []string{"--net-backend", "x"})
	if ce, ok := err.(*clapError); !ok || strings.Contains(ce.block(), "tip:") {
		t.Errorf("a value like none of them has no tip: %v", err)
	}
	for _, ok := range []string{"tsi", "virtio-net"} {
		if _, err := parse(specRun, []string{"--net-backend", ok, "--", "true"}); err != nil {
			t.Errorf("--net-backend %s: %v", ok, err)
		}
	}
}

func TestParseVolumes(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"d", "a:b"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "f"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/usr", filepath.Join(dir, "usrlink")); err != nil {
		t.Fatal(err)
	}
	canonDir, _ := filepath.EvalSymlinks(dir)
	tests := []struct {
		specs  []string
		want   []mount
		err    string
		reason string
	}{
		{[]string{"d:/data"}, []mount{{Host: canonDir + "/d", Guest: "/data"}}, "", "relative host, canonicalised"},
		{[]string{"d:/data:ro", "d:/rw:rw"}, []mount{{canonDir + "/d", "/data", true}, {canonDir + "/d", "/rw", false}}, "", "modes"},
		{[]string{"a:b:/c"}, []mount{{canonDir + "/a:b", "/c", false}}, "", "the last colon splits"},
		{[]string{"d:/data:rx"}, nil, "mount source not found: d:/data", "an unknown mode is part of the target"},
		{[]string{"d"}, nil, "invalid mount path: invalid format 'd' (expected host:guest[:ro|:rw])", "no colon"},
		{[]string{":/x"}, nil, "invalid mount path: invalid format ':/x' (expected host:guest[:ro|:rw])", "empty host"},
		{[]string{"d:"}, nil, "invalid mount path: invalid format 'd:' (expected host:guest[:ro|:rw])", "empty guest"},
		{[]string{"d:ro"}, nil, "invalid mount path: invalid format 'd:ro' (expected host:guest[:ro|:rw])", "only a mode"},
		{[]string{"missing:/x"}, nil, "mount source not found: missing", "missing source as given"},
		{[]string{"f:/x"}, nil, "mount operation failed: validate host path: source path on host must be a directory (virtiofs limitation): f", "a file"},
		{[]string{"/etc:/x"}, nil, "mount operation failed: validate host path: source path on host is a protected system path and cannot be mounted: /etc", "protected"},
		{[]string{"usrlink:/x"}, nil, "mount operation failed: validate host path: source path on host is a protected system path and cannot be mounted: /usr", "protected after canonicalising"},
		{[]string{"/:/x"}, nil, "mount operation failed: validate host path: source path on host is a protected system path and cannot be mounted: /", "root"},
		{[]string{"d:x"}, nil, "mount operation failed: validate guest path: target path on guest should be an absolute directory: x", "relative guest"},
		{[]string{"d:/a//b/./", "d:/a/b"}, nil, "mount operation failed: validate mounts: duplicate mount target: /a/b is specified more than once", "targets compared by component"},
		{[]string{"d:/a/../b", "d:/b"}, []mount{{canonDir + "/d", "/a/../b", false}, {canonDir + "/d", "/b", false}}, "", ".. is a component"},
		{[]string{"d:x", "missing:/y"}, nil, "mount operation failed: validate guest path: target path on guest should be an absolute directory: x", "first spec's error first"},
	}
	for _, tt := range tests {
		got, err := parseVolumes(tt.specs, dir)
		if errString(err) != tt.err {
			t.Errorf("%s: parseVolumes(%q) error = %v, want %q", tt.reason, tt.specs, err, tt.err)
			continue
		}
		if tt.err == "" && !equalMounts(got, tt.want) {
			t.Errorf("%s: parseVolumes(%q) = %v, want %v", tt.reason, tt.specs, got, tt.want)
		}
	}
	var protected []string
	for _, p := range protectedMounts {
		protected = append(protected, p.path)
	}
	if got := strings.Join(protected, " "); got != "/ /var /var/run /var/log /etc /boot /usr /bin /sbin /lib /proc /sys /dev /run" {
		t.Errorf("protected paths = %s", got)
	}
}

func equalMounts(a, b []mount) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestValidateNetBackend(t *testing.T) {
	tests := []struct {
		args   []string
		err    string
		reason string
	}{
		{nil, "", "no network at all"},
		{[]string{"--net"}, "", "default backend"},
		{[]string{"-p", "80:80"}, "", "ports default to virtio-net"},
		{[]string{"--net-backend", "virtio-net", "-p", "80:80"}, "", "ports count as network"},
		{[]string{"--net-backend", "virtio-net", "--dns", "1.1.1.1"}, "", "--dns implies --net"},
		{[]string{"--net-backend", "virtio-net"}, "config operation failed: --net-backend: --net-backend virtio-net requires --net", "virtio-net without network"},
		{[]string{"--net-backend", "tsi"}, "", "tsi without network is allowed"},
		{[]string{"--net-backend", "tsi", "-p", "1:1"}, "config operation failed: ports: published ports require the virtio-net backend (TSI is outbound-only); remove --net-backend tsi or set it to virtio-net", "ports need virtio-net"},
		{[]string{"--net-backend", "tsi", "--network", "n"}, "config operation failed: network: --network requires the virtio-net backend; remove --net-backend tsi or set it to virtio-net", "named network"},
		{[]string{"--net-backend", "tsi", "--allow-host", "h"}, "config operation failed: egress: egress policy (--allow-cidr/--allow-host/--outbound-localhost-only) requires the virtio-net backend; TSI does not enforce it. Remove --net-backend tsi or set it to virtio-net", "egress policy"},
		{[]string{"--net-backend", "tsi", "-p", "1:1", "--network", "n"}, "config operation failed: ports: published ports require the virtio-net backend (TSI is outbound-only); remove --net-backend tsi or set it to virtio-net", "ports checked first"},
	}
	for _, tt := range tests {
		p, err := parse(specCreate, tt.args)
		if err != nil {
			t.Fatalf("%s: parse: %v", tt.reason, err)
		}
		c := &cli{getenv: func(string) string { return "" }}
		if got := errString(validateNetBackend(p, c.recordFromFlags(p))); got != tt.err {
			t.Errorf("%s: %q: got %q, want %q", tt.reason, tt.args, got, tt.err)
		}
	}
}

func TestMarshalJSON(t *testing.T) {
	tests := []struct {
		in     any
		pretty bool
		want   string
		reason string
	}{
		{map[string]string{"k": "a&b<c>"}, false, `{"k":"a&b<c>"}`, "no HTML escaping"},
		{[]string{"\u2028\u2029"}, false, "[\"\u2028\u2029\"]", "line and paragraph separators as themselves"},
		{[]string{`\u2028`}, false, `["\\u2028"]`, "an escaped backslash before u2028 stays"},
		{[]string{"\x01\n\"\\"}, false, `["\u0001\n\"\\"]`, "control characters, quote and backslash escaped"},
		{map[string]any{"b": []int{}, "a": map[string]int{}}, true, "{\n  \"a\": {},\n  \"b\": []\n}", "pretty, keys sorted, empty containers"},
	}
	for _, tt := range tests {
		b, err := marshalJSON(tt.in, tt.pretty)
		if err != nil || string(b) != tt.want {
			t.Errorf("%s: marshalJSON(%v) = %q, %v; want %q", tt.reason, tt.in, b, err, tt.want)
		}
	}
}
