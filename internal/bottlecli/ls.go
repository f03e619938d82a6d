package bottlecli

import (
	"errors"
	"fmt"
	"text/tabwriter"

	"github.com/smolbottle/smolbottle/bottle"
)

const lsUsage = `Usage: bottle ls [--json]

List the bottles smolvm knows (machines bottle created, which carry its
owner labels; other machines are not shown): name, smolvm state, the
process that owns the bottle and whether that owner is alive, dead (gone,
its PID reused, or the host rebooted since) or unknown (another host's, or
another PID namespace's, such as a container's).
A bottle left running on purpose (bottle up, bottle run --keep) is marked
kept. 'bottle gc' removes the bottles whose owner is dead and that are not
kept.

--json prints one JSON array of objects: name, state, owner (pid, start,
boot, host, pidns), owner_state, kept and orphaned (what gc would remove).
`

// lsEntry is one bottle in bottle ls --json.
type lsEntry struct {
	Name       string       `json:"name"`
	State      string       `json:"state"`
	Owner      bottle.Owner `json:"owner"`
	OwnerState string       `json:"owner_state"`
	Kept       bool         `json:"kept"`
	Orphaned   bool         `json:"orphaned"`
}

func runLs(c *cli, args []string) error {
	fs := newFlags("ls", lsUsage)
	asJSON := fs.Bool("json", false, "print one JSON array of objects")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErrorf("ls: unexpected argument %q", fs.Arg(0))
	}
	list, err := bottle.List(c.ctx, c.program())
	if err != nil {
		return err
	}
	entries := make([]lsEntry, 0, len(list))
	for _, b := range list {
		entries = append(entries, lsEntry{Name: b.Name, State: b.State, Owner: b.Owner,
			OwnerState: string(b.Owner.Liveness()), Kept: b.Kept, Orphaned: b.Orphaned()})
	}
	if *asJSON {
		return c.printJSON(entries)
	}
	if len(entries) == 0 {
		fmt.Fprintln(c.stdout, "No bottles found")
		return nil
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATE\tOWNER\tOWNER STATE\t")
	for i, e := range entries {
		state := e.OwnerState
		if e.Kept {
			state += ", kept"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\n", e.Name, e.State, list[i].Owner, state)
	}
	return tw.Flush()
}

const gcUsage = `Usage: bottle gc [--dry-run]

Stop and delete every bottle whose owner is dead (see 'bottle ls'): what a
bottle run killed with SIGKILL, or a host that rebooted, left behind.
Bottles whose owner is alive, bottles kept on purpose (bottle up, bottle
run --keep), another host's bottles and machines bottle did not create are
left alone. Prints one line per bottle removed; with --dry-run, what would
be removed, removing nothing. A bottle that cannot be removed is reported
(exit 1) after the others were tried.
`

func runGc(c *cli, args []string) error {
	fs := newFlags("gc", gcUsage)
	dryRun := fs.Bool("dry-run", false, "print what would be removed, remove nothing")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErrorf("gc: unexpected argument %q", fs.Arg(0))
	}
	list, err := bottle.List(c.ctx, c.program())
	if err != nil {
		return err
	}
	var errs []error
	for _, b := range list {
		if !b.Orphaned() {
			continue
		}
		if *dryRun {
			fmt.Fprintf(c.stdout, "would remove %s (owner %s is gone)\n", b.Name, b.Owner)
			continue
		}
		if err := bottle.Down(c.ctx, c.program(), b.Name); err != nil && !errors.Is(err, bottle.ErrNotFound) {
			errs = append(errs, fmt.Errorf("remove %s: %w", b.Name, err))
			continue
		}
		fmt.Fprintf(c.stdout, "removed %s (owner %s is gone)\n", b.Name, b.Owner)
	}
	return errors.Join(errs...)
}
