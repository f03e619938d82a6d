package guest

// How a guest is built (Linux only; elsewhere Start returns ErrUnsupported
// and nothing runs).
//
// The agent. Start re-executes the fake binary (by path, argv[0]'s base
// name kept, so testscript and the CLI dispatch it) as `smolvm __agent`, in
// the data dir (so its command line, the guest's /proc/1/cmdline, shows no
// host path), detached (setsid), in new user, mount, PID, UTS, IPC and
// cgroup namespaces, plus a network namespace with only lo unless Config.Network.
// The agent is PID 1 of its guest: SIGKILLing it makes the kernel end every
// guest process, which is all Stop does (then it waits for the agent to be
// gone). The host finds agents from /proc: command line "PROG __agent" and
// stdout DATADIR/agent-console.log. The agent reads DATADIR/agent.json
// (the Config), builds the guest, reports "ok" on a pipe and serves
// DATADIR/agent.sock. It writes DATADIR/agent.pid (host PID), logs to
// DATADIR/agent-console.log, and exits by itself once agent.pid's link
// count drops to zero (checked every 200 ms), i.e. when the data dir was
// removed, or once the process named by $FAKE_SMOLVM_OWNER_PID
// (OwnerPIDEnv) at Start has ended (a pidfd), or when the keep pipe
// reaches EOF before StartHeld's keep: a client killed before it recorded
// the machine as running takes its agent along. The agent never creates
// its data dir, so one deleted while it starts stays deleted.
//
// What the agent owes the host: nothing. Its descriptors are the ones
// Start passes (readiness, keep, owner, host mounts, published ports:
// fdReady...) and every other inherited one is closed first thing; its
// environment is empty but for Go tooling settings (and, remapped,
// shiftEnv); it catches every signal, so none a guest sends its PID 1
// (kill -SEGV 1...) ends it or dumps a Go crash.
//
// Ports. Start binds each -p host port on 127.0.0.1 (and ::1) in the host's
// network namespace and passes the listeners to the agent, which splices each
// connection to 127.0.0.1:GUEST dialled from the guest's namespace; the
// listener dies with the agent (ports_linux.go).
//
// Users and ids (idmap_linux.go). As root (with host ids 100000-165535 in
// our user namespace, as the initial one has), guest uids/gids 0-65535 are
// host 100000-165535: guest root is host uid 100000, which owns nothing of
// the host, and the guest's runuser can switch to any user in the guest's
// /etc/passwd. Such a remapped agent is started as host root, an id its user
// namespace does not map (keeping its capabilities, which hold in that
// namespace only, as ambient ones across its exec): as the owner of root's
// directories it reads agent.json and image.json (the image's config, copied
// by the client) and makes agent.sock and agent.pid in a data dir that may
// sit below root's 0700 directories (the client first checks that it can:
// reachableByAgent), then becomes the guest's root (setresuid 0 in its
// namespace) before it builds anything, and from then on reaches the host
// only through descriptors it holds and paths relative to its data dir (its
// working directory). The client makes what needs host privilege: the data
// dir's writable directories (rootfs, upper, work, usrlocal) given to host
// uid 100000 (a tree made before, owned by host root, is shifted once), the
// data dir itself searchable only by host root and the guest root's group
// (0710, so no other host user reaches a setuid file of the guest's tree),
// the image's rootfs as an id-mapped read-only mount through the agent's
// user namespace (the image's files keep their owners as guest ids; where
// its filesystem cannot be id-mapped, overlayfs for one, the machine's own
// copy DATADIR/image with shifted owners, made on the first start), and each
// volume as a detached mount, not id-mapped (the guest writes it with its
// shifted ids); it sends them on a socket (fdMounts). The agent's ambient
// and inheritable capabilities are cleared on the spawner thread, so no
// guest process inherits them. As root of a user namespace that has ids
// 0-65535 but not the shifted range (a rootless container), guest ids are
// that namespace's 0-65535. Otherwise (another user, or root of a one-id
// rootless container) the caller is the guest's root and the only id:
// runuser to another user fails with "runuser: cannot set groups: Operation
// not permitted", and an image whose user is not root cannot run commands
// (spawn fails with "Operation not permitted"). Doctor says which.
//
// The root filesystem is an overlay mounted at DATADIR/merged, its layers
// named by descriptor so the guest's mountinfo shows no host path: a bare
// guest's own tree DATADIR/rootfs over an empty DATADIR/lower (bound
// instead where overlayfs cannot be mounted), an image guest's writable
// layer DATADIR/upper over the image (work dir DATADIR/work for both).
//
// The userland (userland_linux.go). A bare guest is Alpine-like: its tree
// is DATADIR/rootfs, laid out on the first start as Alpine 3.19's (/bin,
// /sbin, /usr..., os-release, passwd and group with root only, apk's
// files), the host's static busybox as /bin/busybox with a link to it for
// each applet, and the commands of guestCommands (the one table of which
// Alpine package brings which command, and whether it is a host binary or
// the fake's own), each host binary copied with the shared libraries it
// loads. They are the guest's own files from then on, as on a VM's disk. /sbin/apk is a script
// that fails as apk does offline; /usr/sbin/runuser runs the fake's runuser
// (the bound fake binary, `smolvm __runuser`). Without a static busybox a
// bare Start fails with one line naming busybox-static. Config.HostUserland
// (HostUserlandEnv) instead shows the host's /usr, /bin, /lib...
// read-only, mounts DATADIR/usrlocal on /usr/local and rewrites the shim
// /usr/local/sbin/runuser on each start. An image guest's lower layer is
// ImageDir/rootfs, read-only and shared by every machine of the image; its
// writable layer is kept until delete, and no start copies the image. It
// sees nothing of the host's userland.
//
// The tree (mounts_linux.go, firststart_linux.go). The root is pivoted
// into (host root detached). /tmp, /run, /dev/shm are fresh tmpfs on every
// start. /dev is a tmpfs with null, zero, full, random, urandom, tty bound
// from the host, a private devpts, and /dev/.smolvm/smolvm, the fake
// binary (read-only). /proc is the guest's own, with sys, sysrq-trigger,
// irq, bus, fs read-only and kcore, keys... masked. The first start (no
// DATADIR/guest.ready) writes /etc/hostname and /etc/hosts (the hostname is
// the machine name when it is a lowercase DNS label of at most 63 bytes,
// else "container", as smolvm's agent names a container, so every name
// starts) and, for a bare guest, the Alpine /etc. An image's non-root user
// gets its home directory. All writes into the tree happen after
// pivot_root, so a symlink the guest left cannot redirect them to a host
// file. Volumes (Config.Mounts, from create -v) are cloned with open_tree
// (by the client for a remapped guest, else by the agent) before
// pivot_root and attached with move_mount after it, nosuid and nodev
// (read-only too for :ro) through mount_setattr; a volume whose mount point cannot be made in the
// guest fails Start with "mount operation failed: mount volume: ...".
//
// Isolation, in layers (confine_linux.go, seccomp_linux.go), each stopping
// what the others do not:
//   - Namespaces: the guest sees its own processes, mounts, hostname, IPC,
//     cgroup root (/proc/self/cgroup is "0::/") and, without --net, network.
//   - The capability bounding set (per thread, so one locked OS thread with
//     the reduced set forks every guest process): no SYS_ADMIN, MKNOD,
//     SYS_PTRACE, SYS_MODULE, SETFCAP...; guest root cannot mount, remount
//     a read-only bind, make devices or set file capabilities.
//   - No nested namespaces: user.max_user_namespaces and
//     user.max_cgroup_namespaces are 0 inside the guest's user namespace
//     (set by the agent, read-only to the guest through /proc/sys), since a
//     new user namespace is the one way back to CAP_SYS_ADMIN (to mount a
//     host cgroup hierarchy and write it, for instance).
//   - Read-only, nosuid, nodev binds: every host inode shown in the guest
//     (/dev nodes, which keep dev; the fake binary; the host /usr of the
//     opt-in) can be used but not changed,
//     and a host setuid binary runs without its privilege.
//   - Shifted ids (see Users): guest root is host uid 100000, so what its
//     capabilities could reach outside its namespaces (a cgroup file, a
//     host inode shown in the guest, a volume's root-owned directory) is
//     guarded by ordinary permissions against an unprivileged uid, and
//     what it creates is that uid's.
//   - A seccomp filter (inherited like the bounding set): no chmod, open,
//     creat or mknod that sets a setuid or setgid bit, and no openat2 or
//     io_uring (which a filter cannot inspect). Without shifted ids (a
//     rootless container's root) the guest's ids are the caller's, so such
//     a file, or a file capability, left in a volume would hold for the
//     caller; this layer keeps guest root from making one.
//   - The agent is non-dumpable, so no guest process can open /proc/1/fd,
//     and it holds no host directory open. cp resolves guest paths inside
//     the guest root with openat2(RESOLVE_NO_MAGICLINKS) and rejects "..".
//
// Exec. One connection per command; frames are described in proto.go. The
// agent spawns the command in its own process group (session and PTY for
// TTY), as the image user by default, with smolvm's environment (base, image
// env, Config.Env, request env; later wins by key: docs/smolvm.md, exec:
// environment). A single reaper goroutine owns wait4, as PID 1 must reap
// orphans. Timeouts and a client that hangs
// up kill the process group. Output of buffered mode is collected and sent
// as all stdout then all stderr once both pipes reach EOF, so a background
// child that keeps them holds the exec (docs/smolvm.md, exec); the timeout
// applies only while the direct child lives. The streaming modes read on
// after the command exits for drainGrace while background children hold
// the pipes or the terminal, and then take what they hold without waiting
// (the PTY master is opened non-blocking and never handed to Fd(), so its
// read deadlines work). When the
// agent dies mid-command, the client reports "agent operation failed: OP:
// connection to VM lost" where OP is the mode's operation name in smolvm's
// messages (docs/smolvm.md, exec): "vm exec", "vm exec interactive",
// "streaming exec", "vm exec background".
//
// Images: ImageDir/config.json's user (NAME, UID, or either with :GROUP,
// read from the copy DATADIR/image.json, looked up in the guest's
// /etc/passwd and /etc/group) is the default user of every exec; a non-root
// image user gets its home directory (created, and owned by it if root owned
// it), as useradd -m would.
//
// Init commands are the CLI's: it runs them through Exec after Start.
//
// Files. The package is cut by concern, and each file holds both sides of
// its concern, the client's (the CLI process) and the agent's (PID 1 of the
// guest): guest.go (the API), lifecycle_linux.go (starting, finding and
// stopping agents), agent_linux.go (the agent's main loop), mounts_linux.go
// (the guest tree), firststart_linux.go (the first start's /etc),
// userland_linux.go (busybox and the table of commands), confine_linux.go
// (capabilities, namespace limits), seccomp_linux*.go (the filter),
// idmap_linux.go (the guest's ids, the client's mounts for a remapped
// agent),
// reaper_linux.go (PID 1's reaping and the
// spawner thread), users_linux.go (user, environment and PATH of a
// command), exec_linux.go (exec, both sides), ports_linux.go (published
// ports, both sides), stdio_linux.go (the client's stdin pump and
// terminal), copy_linux.go (cp, both sides), proto.go (the frames),
// runuser_linux.go, doctor_linux.go.
