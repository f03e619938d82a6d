package fakesmolvm

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Value parsers with clap's and smolvm's messages (docs/smolvm.md: create,
// exec, cp).

// rangedUint is clap's value_parser!(uN): a decimal integer within 0..=max.
func rangedUint(max uint64) func(string) error {
	return func(s string) error {
		_, err := parseRanged(s, max)
		return err
	}
}

func parseRanged(s string, max uint64) (uint64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) {
			switch {
			case s == "":
				return 0, errors.New("cannot parse integer from empty string")
			case ne.Err == strconv.ErrRange:
				if strings.HasPrefix(s, "-") {
					return 0, errors.New("number too small to fit in target type")
				}
				return 0, errors.New("number too large to fit in target type")
			}
		}
		return 0, errors.New("invalid digit found in string")
	}
	if n < 0 || uint64(n) > max {
		return 0, fmt.Errorf("%d is not in 0..=%d", n, max)
	}
	return uint64(n), nil
}

// plainUint is Rust's str::parse::<uN>() (no range message).
func plainUint(bits int) func(string) error {
	return func(s string) error {
		_, err := parseUintRust(s, bits)
		return err
	}
}

func parseUintRust(s string, bits int) (uint64, error) {
	if s == "" {
		return 0, errors.New("cannot parse integer from empty string")
	}
	n, err := strconv.ParseUint(strings.TrimPrefix(s, "+"), 10, bits)
	if err != nil {
		if ne := (*strconv.NumError)(nil); errors.As(err, &ne) && ne.Err == strconv.ErrRange {
			return 0, errors.New("number too large to fit in target type")
		}
		return 0, errors.New("invalid digit found in string")
	}
	return n, nil
}

// nonZeroUint is Rust's NonZeroU32/NonZeroU64 parse.
func nonZeroUint(bits int) func(string) error {
	return func(s string) error {
		n, err := parseUintRust(s, bits)
		if err == nil && n == 0 {
			return errors.New("number would be zero for non-zero type")
		}
		return err
	}
}

// portMap is one -p value. The record keeps it as "ports":
// [{"host": H, "guest": G}], and the guest's Config receives it.
type portMap struct {
	Host  uint16 `json:"host"`
	Guest uint16 `json:"guest"`
}

// parsePort is smolvm's PortMapping::parse (docs/smolvm.md, create: ports):
// HOST:GUEST split at the first ":", the host part parsed and checked
// before the guest part; a lone PORT maps to itself. Numbers are Rust's
// u16 parse (an optional "+", decimal digits, at most 65535).
func parsePort(s string) (portMap, error) {
	if h, g, ok := strings.Cut(s, ":"); ok {
		hp, err := parseUintRust(h, 16)
		if err != nil {
			return portMap{}, fmt.Errorf("invalid host port: %s", h)
		}
		if hp == 0 {
			return portMap{}, errors.New("host port 0 is not valid for VM port forwarding")
		}
		gp, err := parseUintRust(g, 16)
		if err != nil {
			return portMap{}, fmt.Errorf("invalid guest port: %s", g)
		}
		if gp == 0 {
			return portMap{}, errors.New("guest port 0 is not valid for VM port forwarding")
		}
		return portMap{uint16(hp), uint16(gp)}, nil
	}
	p, err := parseUintRust(s, 16)
	if err != nil {
		return portMap{}, fmt.Errorf("invalid port: %s", s)
	}
	if p == 0 {
		return portMap{}, errors.New("port 0 is not valid for VM port forwarding")
	}
	return portMap{uint16(p), uint16(p)}, nil
}

func checkPort(s string) error { _, err := parsePort(s); return err }

// checkIPv4 is clap's parser for Rust's Ipv4Addr (--dns): exactly four
// dot-separated decimal octets of one to three digits, each at most 255,
// without a leading zero; nothing else (no IPv6, no port, no spaces).
func checkIPv4(s string) error {
	bad := errors.New("invalid IPv4 address syntax")
	parts := strings.Split(s, ".")
	if len(s) > 15 || len(parts) != 4 {
		return bad
	}
	for _, p := range parts {
		if p == "" || len(p) > 3 || (len(p) > 1 && p[0] == '0') {
			return bad
		}
		n := 0
		for i := 0; i < len(p); i++ {
			if p[i] < '0' || p[i] > '9' {
				return bad
			}
			n = n*10 + int(p[i]-'0')
		}
		if n > 255 {
			return bad
		}
	}
	return nil
}

// netBackends are the values of smolvm's NetworkBackend enum, in its order.
var netBackends = []string{"tsi", "virtio-net"}

// checkSize is smolvm's parse_size_bytes (--max-image-size): a decimal
// number, optionally fractional, and an optional unit K, M, G or T (also
// KiB/KB and so on, any case); the result must not be zero.
func checkSize(s string) error {
	t := strings.TrimSpace(s)
	if t == "" {
		return errors.New("size must not be empty")
	}
	split := strings.IndexFunc(t, func(r rune) bool { return !(r >= '0' && r <= '9' || r == '.') })
	if split < 0 {
		split = len(t)
	}
	num, unit := t[:split], t[split:]
	v, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return fmt.Errorf("'%s' is not a valid size (expected a number, optional K/M/G/T)", s)
	}
	var mult float64
	switch u := strings.ToLower(strings.TrimSpace(unit)); u {
	case "", "b":
		mult = 1
	case "k", "ki", "kib", "kb":
		mult = 1 << 10
	case "m", "mi", "mib", "mb":
		mult = 1 << 20
	case "g", "gi", "gib", "gb":
		mult = 1 << 30
	case "t", "ti", "tib", "tb":
		mult = 1 << 40
	default:
		return fmt.Errorf("invalid size unit '%s' in '%s' (use K, M, G, or T)", u, s)
	}
	if v*mult < 1 {
		return fmt.Errorf("size '%s' must be greater than zero", s)
	}
	return nil
}

// checkCIDR is smolvm's parse_cidr (--allow-cidr): an IPv4 or IPv6
// network with a prefix length, or a bare address.
func checkCIDR(s string) error {
	bad := fmt.Errorf("invalid CIDR '%s': expected format like 10.0.0.0/8 or 1.1.1.1", s)
	if strings.ContainsAny(s, "% ") {
		return bad
	}
	addr, bits, hasBits := strings.Cut(s, "/")
	a, err := netip.ParseAddr(addr)
	if err != nil || (a.Is4() && checkIPv4(addr) != nil) {
		return bad
	}
	if hasBits {
		n, err := parseUintRust(bits, 8)
		if err != nil || strings.HasPrefix(bits, "+") || int(n) > a.BitLen() {
			return bad
		}
	}
	return nil
}

// checkGPUVRAM is smolvm's --gpu-vram parser: a u32 number of MiB, not 0.
func checkGPUVRAM(s string) error {
	n, err := parseUintRust(s, 32)
	if err != nil {
		return fmt.Errorf("'%s' is not a valid MiB value", s)
	}
	if n == 0 {
		return errors.New("--gpu-vram must be a positive number of MiB; use a value >= 1 or omit the flag to get the default")
	}
	return nil
}

func checkImage(s string) error {
	if strings.TrimSpace(s) == "" {
		return errors.New("image reference must not be empty")
	}
	return nil
}

func checkTimeout(s string) error { _, err := parseTimeout(s); return err }

func parseTimeout(s string) (time.Duration, error) {
	d, err := parseHumantime(s)
	if err != nil {
		return 0, err
	}
	if d == 0 {
		return 0, errors.New("timeout must be greater than 0 (e.g., 5sec, 30s)")
	}
	return d, nil
}

// parseHumantime follows the humantime crate's parse_duration and its
// error texts.
func parseHumantime(s string) (time.Duration, error) {
	if strings.TrimSpace(s) == "" {
		return 0, errors.New("value was empty")
	}
	var total time.Duration
	i := 0
	for i < len(s) {
		for i < len(s) && s[i] == ' ' {
			i++
		}
		if i >= len(s) {
			break
		}
		start := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if start == i {
			return 0, fmt.Errorf("expected number at %d", start)
		}
		num, err := strconv.ParseUint(s[start:i], 10, 64)
		if err != nil {
			return 0, errors.New("number is too large")
		}
		ustart := i
		for i < len(s) && (s[i] >= 'a' && s[i] <= 'z' || s[i] >= 'A' && s[i] <= 'Z' || s[i] >= 0x80) {
			i++
		}
		unit := s[ustart:i]
		if i < len(s) && s[i] != ' ' && !(s[i] >= '0' && s[i] <= '9') {
			return 0, fmt.Errorf("invalid character at %d", i)
		}
		var mul time.Duration
		switch unit {
		case "nanos", "nsec", "ns":
			mul = time.Nanosecond
		case "usec", "us", "µs":
			mul = time.Microsecond
		case "millis", "msec", "ms":
			mul = time.Millisecond
		case "seconds", "second", "secs", "sec", "s":
			mul = time.Second
		case "minutes", "minute", "min", "mins", "m":
			mul = time.Minute
		case "hours", "hour", "hr", "hrs", "h":
			mul = time.Hour
		case "days", "day", "d":
			mul = 24 * time.Hour
		case "weeks", "week", "w":
			mul = 7 * 24 * time.Hour
		case "months", "month", "M":
			mul = 2630016 * time.Second
		case "years", "year", "y":
			mul = 31557600 * time.Second
		case "":
			return 0, fmt.Errorf("time unit needed, for example %ssec or %sms", s[start:i], s[start:i])
		default:
			return 0, fmt.Errorf("unknown time unit %q, supported units: ns, us, ms, sec, min, hours, days, weeks, months, years (and few variations)", unit)
		}
		if num > uint64(1<<63-1)/uint64(mul) {
			return 0, errors.New("number is too large")
		}
		total += time.Duration(num) * mul
	}
	return total, nil
}

// parseMode reads cp's --mode: optional "0o", octal, at most 7777.
func parseMode(s string) (uint32, error) {
	t := strings.TrimPrefix(s, "0o")
	n, err := strconv.ParseUint(t, 8, 32)
	if err != nil || t == "" || n > 0o7777 {
		return 0, fmt.Errorf("config operation failed: cp: invalid octal mode '%s' (expected e.g. 644)", s)
	}
	return uint32(n), nil
}
