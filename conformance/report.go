package conformance

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// recorder collects each script's result for the summary.
type recorder struct {
	mu      sync.Mutex
	results map[string]string // name -> "pass", "fail", "skip"
	reasons map[string]string // name -> why it was skipped
}

func (r *recorder) result(name, res string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.results == nil {
		r.results = map[string]string{}
	}
	r.results[name] = res
}

func (r *recorder) skipped(name, reason string) {
	r.mu.Lock()
	if r.reasons == nil {
		r.reasons = map[string]string{}
	}
	if _, ok := r.reasons[name]; !ok {
		r.reasons[name] = reason
	}
	r.mu.Unlock()
	r.result(name, "skip")
}

// report prints the failed scripts, the skipped ones with their reasons,
// then the summary.
func (r *recorder) report(w io.Writer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var names, failed []string
	n := map[string]int{}
	for name, res := range r.results {
		n[res]++
		switch res {
		case "skip":
			names = append(names, name)
		case "fail":
			failed = append(failed, name)
		}
	}
	sort.Strings(names)
	sort.Strings(failed)
	for _, name := range failed {
		fmt.Fprintf(w, "conformance: failed %s\n", name)
	}
	for _, name := range names {
		reason := r.reasons[name]
		if reason == "" {
			reason = "(no reason given)"
		}
		fmt.Fprintf(w, "conformance: skipped %s: %s\n", name, reason)
	}
	fmt.Fprintf(w, "conformance: %d passed, %d failed, %d skipped\n", n["pass"], n["fail"], n["skip"])
}

// recT is testscript's view of a test: it records each script's outcome
// and the reason it was skipped.
type recT struct {
	*testing.T
	rec    *recorder
	prefix string // "MODEL/"
	name   string // "MODEL/SCRIPT" inside a script's subtest
}

func (r recT) Skip(args ...any) {
	if r.name != "" {
		r.rec.skipped(r.name, strings.TrimSpace(fmt.Sprintln(args...)))
	}
	r.T.Skip(args...)
}

func (r recT) Run(name string, f func(testscript.T)) {
	r.T.Run(name, func(t *testing.T) {
		full := r.prefix + name
		t.Cleanup(func() {
			switch {
			case t.Skipped():
				r.rec.skipped(full, "")
			case t.Failed():
				r.rec.result(full, "fail")
			default:
				r.rec.result(full, "pass")
			}
		})
		f(recT{T: t, rec: r.rec, prefix: r.prefix, name: full})
	})
}

func (r recT) Verbose() bool { return testing.Verbose() }
