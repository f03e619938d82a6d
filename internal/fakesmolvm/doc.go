// Package fakesmolvm is a drop-in emulator of the smolvm CLI. It parses
// argv the way smolvm does (docs/smolvm.md), keeps machine state where
// smolvm keeps its own, records every invocation, injects scripted faults,
// and runs exec and cp inside isolated guests (package guest). It never
// imports package bottle: tests compare two independent readings of the
// spec.
//
// Layout: parse.go is a small clap-like parser driven by the per-command
// specs of specs.go (values.go holds clap's and smolvm's value parsers);
// main.go dispatches and decides every exit code (cli.exit); create.go,
// lifecycle.go (start, stop, delete), status.go (status, ls), exec.go (exec,
// shell, cp, data-dir) and run.go follow the spec's sections; state.go keeps
// the records; recorder.go, faults.go, images.go, fake.go and version.go
// are the fake's own additions; stopall.go is the teardown helper for test
// harnesses (package smolvmtest is built on it).
//
// Where the spec leaves a choice, the fake decides:
//
//   - clap error blocks follow clap_builder 4's rich formatter as read from
//     its source (the spec did not check them by running): the Usage line is
//     the "smart" one (required and used arguments, no [OPTIONS]) for
//     conflicts, missing arguments, unknown long flags and unneeded values,
//     the ordinary one otherwise; "tip:" lines name similar subcommands or
//     long flags (Jaro similarity above 0.7) or suggest "-- WORD" where the
//     command takes positionals. Conflicts are named in command-line order.
//   - State: <local data dir>/smolvm/fake/machines.json (one JSON document,
//     replaced atomically under an flock), per-machine lock files for
//     start/stop/delete and a run's boot, owner locks of live runs,
//     invocations.jsonl, fault counters, and the image store images/.
//     $FAKE_SMOLVM_NOW fixes created_at. A damaged document or record is
//     one "io operation failed: parse state ..." error, never a panic.
//   - Start keeps its agent (guest.StartHeld) only once the record says
//     running, so a start killed midway leaves no unrecorded machine; stop
//     and delete end any agent of a machine not recorded as running.
//   - The invocation log: each machine subcommand writes its entry, marked
//     unfinished, before it runs and completes it in place when it ends
//     (recorder.go); other invocations are appended when they end.
//   - Images not in the store fail create: without a network with smolvm's
//     "must be pulled from a registry, but this machine has no network"
//     message, with one with "not found in the fake-smolvm image store ...
//     cannot pull from a registry". A first start prints "Pulling IMAGE...".
//   - Init commands are run by the CLI through guest.Exec (sh -c, buffered),
//     numbered from 0 in "init[I] failed".
//   - machine run (docs/smolvm.md, run) checks what smolvm checks, in its
//     order. Without -d: a generated name, an ephemeral record, only
//     "Starting ephemeral machine (NAME)..." besides COMMAND's own output
//     (buffered unless -i/-t; /bin/sh with -i/-t and no COMMAND), then the
//     machine is removed before the exit code is returned. With -d: the
//     -n name (default "default"), an ordinary persistent record, COMMAND
//     started in the background (bare) or as the workload (image), and
//     smolvm's "running" lines. A run holds its owner lock while it lives;
//     every machine subcommand first removes ephemeral machines whose run
//     is gone. run -d reuses an existing "default" as smolvm does (kept
//     running when its launch options are the same, else restarted).
//   - Values are checked with smolvm's parsers and messages: -p, --dns (one
//     IPv4 address), --net-backend (tsi, virtio-net; a clap value enum),
//     --allow-cidr, --gpu-vram, --max-image-size, --allow-host (resolved
//     on the host), --secret-env/--secret-file references; then the backend
//     against ports, --network and egress flags. Flags whose effect the
//     fake does not emulate are kept in the record or ignored
//     (docs/fake-differences.md); --smolfile and --from fail with "not
//     supported by fake-smolvm".
//   - exec --secret-env/--secret-file are resolved on the host.
//   - -v mounts are validated as smolvm does (read from the right,
//     protected host paths, targets compared as paths), stored, and passed
//     as guest.Config.Mounts; -p ports as guest.Config.Ports, which the
//     agent publishes.
//   - exec, shell, cp, text status and a stop of a machine without a
//     record make the machine's data dir (with its "name" file) first, as
//     smolvm does, so a later delete reports cleaning it up.
//   - JSON, printed or written, goes through marshalJSON: serde_json's
//     escaping, no \u0026 for "&".
//   - machine --help is smolvm's own list of every machine subcommand;
//     serve, pack, config and the machine subcommands the fake does not
//     emulate print one "Error: ... is not supported by fake-smolvm" line,
//     exit 1.
package fakesmolvm
