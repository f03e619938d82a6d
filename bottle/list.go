package bottle

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
)

// Info is one bottle as smolvm lists it.
type Info struct {
	Name string
	// State is smolvm's state word: created, running, stopped...
	State string
	// Owner is the process that launched the bottle (from its labels).
	Owner Owner
	// Kept is true for a bottle left running on purpose (LabelKeep).
	Kept bool
}

// Orphaned reports whether the bottle's owner is gone (Dead) and the
// bottle was not kept: what "bottle gc" removes.
func (b Info) Orphaned() bool {
	return !b.Kept && b.Owner.Liveness() == Dead
}

// List returns the machines smolvm knows that are bottles (they carry
// LabelBottle and a readable owner), sorted by name, from one
// "smolvm machine ls --json" (program "" is DefaultProgram). Other
// machines are not listed.
func List(ctx context.Context, program string) ([]Info, error) {
	inv := Invocation{Argv: []string{programOr(program), "machine", "ls", "--json"}}
	res, _, err := runOK(ctx, inv)
	if err != nil {
		return nil, fmt.Errorf("list bottles: %w", err)
	}
	return parseList(res.Stdout)
}

// parseList reads machine ls --json: an array of objects of which only
// name, state and labels matter here.
func parseList(b []byte) ([]Info, error) {
	var machines []struct {
		Name   string            `json:"name"`
		State  string            `json:"state"`
		Labels map[string]string `json:"labels"`
	}
	if err := json.Unmarshal(b, &machines); err != nil {
		return nil, fmt.Errorf("list bottles: reading smolvm machine ls --json: %w", err)
	}
	var out []Info
	for _, m := range machines {
		o, ok := ownerFromLabels(m.Labels)
		if !ok {
			continue
		}
		out = append(out, Info{Name: m.Name, State: m.State, Owner: o, Kept: m.Labels[LabelKeep] == "1"})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
