package bottlecli

import (
	"fmt"

	"github.com/smolbottle/smolbottle/bottle"
)

const upUsage = `Usage: bottle up [FLAGS]

Create and start a machine, print its name on stdout and leave it running
(stop and delete it with 'bottle down NAME'). If create or start fails,
whatever was made is stopped and deleted again; so it is after Ctrl-C,
and bottle exits 130 (143 for SIGTERM).

The machine is labelled as a bottle kept running on purpose: 'bottle ls'
lists it, 'bottle gc' leaves it alone.
`

func runUp(c *cli, args []string) error {
	fs := newFlags("up", upUsage)
	var spec bottle.Spec
	var env envList
	var extra stringList
	fs.StringVar(&spec.Name, "name", "", "machine `NAME` (default: bottle- and 8 hex digits, also printed on stderr)")
	fs.StringVar(&spec.Image, "image", "", "OCI `IMAGE` (default: a bare machine)")
	fs.IntVar(&spec.CPUs, "cpus", 0, "number of `N` vCPUs (default: smolvm's)")
	fs.IntVar(&spec.MemoryMiB, "mem", 0, "memory in `MiB` (default: smolvm's)")
	fs.Var(&env, "env", "machine env `K=V`, persisted on the machine (repeatable)")
	fs.BoolVar(&spec.Network, "net", false, "enable networking")
	fs.Var(&extra, "create-flag", "extra `WORD` appended to smolvm machine create (repeatable)")
	fs.StringVar(&spec.GuestUser, "guest-user", "", "the `USER` smolvm exec runs as by default (skips asking the guest)")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErrorf("up: unexpected argument %q", fs.Arg(0))
	}
	spec.MachineEnv = env
	spec.CreateFlags = extra
	spec.Keep = true // left running on purpose: 'bottle gc' leaves it alone
	m, err := c.launch(spec)
	if err != nil {
		return err
	}
	fmt.Fprintln(c.stdout, m.Name())
	return nil
}

const downUsage = `Usage: bottle down NAME

Stop and delete the machine NAME.
`

func runDown(c *cli, args []string) error {
	fs := newFlags("down", downUsage)
	if err := c.parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageErrorf("down: want exactly one machine NAME, got %d arguments", fs.NArg())
	}
	return bottle.Down(c.ctx, c.program(), fs.Arg(0))
}
