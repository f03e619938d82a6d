"""A small Python library that runs shell scripts in a smolvm microVM.

It stands for any project's own code that drives the smolvm CLI; its tests
(tests/) run it against fake-smolvm instead of real VMs.
"""

import os
import subprocess


class SmolvmError(Exception):
    """smolvm itself failed (not a script run in the guest)."""

    def __init__(self, argv, code, stderr):
        super().__init__(f"{' '.join(argv)}: exit {code}: {stderr.strip()}")
        self.argv, self.code, self.stderr = argv, code, stderr


class Sandbox:
    """One machine: created and started on enter, stopped and deleted on exit.

    with Sandbox("job1") as box:
        code, out, err = box.run("make test")
    """

    def __init__(self, name, smolvm=None, secrets=None):
        self.name = name
        self.smolvm = smolvm or os.environ.get("SMOLVM", "smolvm")
        # Secrets reach the guest as -e KEY with the value only in smolvm's
        # environment, never in an argv (which every local user can read).
        self.secrets = dict(secrets or {})
        self._created = False

    def _smolvm(self, *args, check=True, env=None, input=None):
        argv = [self.smolvm, "machine", *args]
        p = subprocess.run(argv, capture_output=True, text=True, env=env, input=input)
        if check and p.returncode != 0:
            raise SmolvmError(argv, p.returncode, p.stderr)
        return p

    def __enter__(self):
        self._smolvm("create", "--name", self.name)
        self._created = True
        try:
            self._smolvm("start", "--name", self.name)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def close(self):
        """Stop and delete the machine; safe to call twice."""
        if not self._created:
            return
        self._created = False
        stop = self._smolvm("stop", "--name", self.name, check=False)
        self._smolvm("delete", "--name", self.name, "-f")
        if stop.returncode != 0:
            raise SmolvmError([self.smolvm, "machine", "stop"], stop.returncode, stop.stderr)

    def run(self, script):
        """Run script with sh -c in the guest: (exit code, stdout, stderr)."""
        args = ["exec", "--name", self.name]
        env = None
        if self.secrets:
            env = dict(os.environ, **self.secrets)
            for key in sorted(self.secrets):
                args += ["-e", key]
        p = self._smolvm(*args, "--", "sh", "-c", script, check=False, env=env)
        # smolvm's own failures are "Error: ..." lines with exit 1; a
        # script's exit 1 has no such line from smolvm.
        if p.returncode == 1 and p.stderr.startswith("Error: "):
            raise SmolvmError(args, p.returncode, p.stderr)
        return p.returncode, p.stdout, p.stderr

    def put(self, host_path, guest_path):
        """Copy a host file into the guest."""
        if ":" in host_path:
            # smolvm would read HOST:PATH as MACHINE:PATH.
            raise ValueError(f"a host path with ':' cannot be copied: {host_path}")
        self._smolvm("cp", host_path, f"{self.name}:{guest_path}")
