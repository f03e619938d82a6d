package bottle

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// The labels Launch puts on every machine it creates (smolvm machine
// create --label KEY=VALUE; smolvm never interprets them and shows them in
// machine ls --json: docs/smolvm.md, create and ls). They say that the machine is a bottle and which
// process owns it, so that a machine whose owner was killed can be found
// and removed (List, Orphaned).
const (
	// LabelBottle marks a machine as a bottle ("1").
	LabelBottle = "smolbottle.bottle"
	// LabelPID is the owner's process id.
	LabelPID = "smolbottle.owner.pid"
	// LabelStart is the owner's start time in clock ticks after boot
	// (field 22 of /proc/PID/stat): with the boot id it tells the owner
	// from a later process that got the same PID.
	LabelStart = "smolbottle.owner.start"
	// LabelBoot is the boot id of the owner's host
	// (/proc/sys/kernel/random/boot_id).
	LabelBoot = "smolbottle.owner.boot"
	// LabelHost is the owner's host name, for people and to tell another
	// host's bottles (whose owners cannot be checked) from ours.
	LabelHost = "smolbottle.owner.host"
	// LabelPIDNS is the owner's PID namespace (the target of
	// /proc/self/ns/pid, e.g. "pid:[4026531836]"): a PID means nothing in
	// another namespace (a container sharing the host's smolvm), so such an
	// owner cannot be checked either.
	LabelPIDNS = "smolbottle.owner.pidns"
	// LabelKeep ("1") says the machine was left running on purpose (bottle
	// up, bottle run --keep): it outlives its owner, and Orphaned never
	// reports it.
	LabelKeep = "smolbottle.keep"
)

// Owner identifies the process that owns a bottle, across PID reuse and
// reboots.
type Owner struct {
	PID   int    `json:"pid"`
	Start uint64 `json:"start"` // clock ticks after boot; 0 when unknown
	Boot  string `json:"boot"`  // boot id; "" when unknown
	Host  string `json:"host"`
	PIDNS string `json:"pidns"` // PID namespace; "" when unknown
}

// Self returns the calling process as an Owner. Where /proc is missing
// (not Linux), Start and Boot stay empty and liveness rests on the PID
// alone.
func Self() Owner {
	o := Owner{PID: os.Getpid(), Boot: bootID()}
	o.Start, _ = startTime(o.PID)
	o.Host, _ = os.Hostname()
	o.PIDNS, _ = os.Readlink("/proc/self/ns/pid")
	return o
}

// labels returns o as create's labels.
func (o Owner) labels() map[string]string {
	l := map[string]string{LabelBottle: "1", LabelPID: strconv.Itoa(o.PID)}
	if o.Start != 0 {
		l[LabelStart] = strconv.FormatUint(o.Start, 10)
	}
	if o.Boot != "" {
		l[LabelBoot] = o.Boot
	}
	if o.Host != "" {
		l[LabelHost] = o.Host
	}
	if o.PIDNS != "" {
		l[LabelPIDNS] = o.PIDNS
	}
	return l
}

// ownerFromLabels reads an Owner back; ok is false for a machine that is
// not a bottle or whose owner labels are unreadable.
func ownerFromLabels(l map[string]string) (o Owner, ok bool) {
	if l[LabelBottle] != "1" {
		return Owner{}, false
	}
	pid, err := strconv.Atoi(l[LabelPID])
	if err != nil || pid <= 0 {
		return Owner{}, false
	}
	o = Owner{PID: pid, Boot: l[LabelBoot], Host: l[LabelHost], PIDNS: l[LabelPIDNS]}
	if s := l[LabelStart]; s != "" {
		if o.Start, err = strconv.ParseUint(s, 10, 64); err != nil {
			return Owner{}, false
		}
	}
	return o, true
}

// Liveness is what can be said about a bottle's owner from this host.
type Liveness string

const (
	// Alive: the owner process runs (same host, same boot, same start time).
	Alive Liveness = "alive"
	// Dead: the owner is gone: no such process, or a different process
	// holds its PID now, or this host has rebooted since.
	Dead Liveness = "dead"
	// Unknown: the owner ran on another host or in another PID namespace;
	// nothing can be said, so nothing is removed.
	Unknown Liveness = "unknown"
)

// self is this process as an Owner, read once: its boot, host, PID
// namespace and start time do not change while it runs, and Liveness is
// asked for every bottle of a listing.
var self = sync.OnceValue(Self)

// Liveness checks o against this host's processes.
func (o Owner) Liveness() Liveness {
	me := self()
	if o.Host != "" && me.Host != "" && o.Host != me.Host {
		return Unknown
	}
	if o.Boot != "" && me.Boot != "" && o.Boot != me.Boot {
		return Dead // this host rebooted: every process of before is gone
	}
	if o.PIDNS != "" && me.PIDNS != "" && o.PIDNS != me.PIDNS {
		return Unknown // its PID is not one of ours
	}
	start, err := startTime(o.PID)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return Dead
	case err == nil:
		if o.Start != 0 && start != o.Start {
			return Dead // the PID was reused
		}
		return Alive
	}
	// No /proc: the PID alone.
	if err := syscall.Kill(o.PID, 0); errors.Is(err, syscall.ESRCH) {
		return Dead
	}
	return Alive
}

func (o Owner) String() string {
	s := "pid " + strconv.Itoa(o.PID)
	if o.Host != "" {
		s += " on " + o.Host
	}
	return s
}

var errNoProc = errors.New("no /proc to read processes from")

// bootID reads this host's boot id ("" when there is none to read).
func bootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// startTime reads field 22 of /proc/PID/stat, the process's start time in
// clock ticks after boot. A zombie counts as gone (os.ErrNotExist): it has
// exited, only its status waits to be read. Any other error means /proc
// cannot say.
func startTime(pid int) (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		if _, serr := os.Stat("/proc/self/stat"); serr != nil {
			return 0, errNoProc // cannot tell
		}
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces or
	// ")": the fields after it start past the last ")".
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	f := strings.Fields(s[i+1:])
	if i < 0 || len(f) < 20 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	if f[0] == "Z" || f[0] == "X" {
		return 0, os.ErrNotExist
	}
	return strconv.ParseUint(f[19], 10, 64)
}
