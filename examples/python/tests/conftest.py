"""pytest fixtures that put fake-smolvm on PATH as smolvm.

The fake is the fake-smolvm binary of github.com/smolbottle/smolbottle:
$FAKE_SMOLVM_BIN when set, else fake-smolvm from PATH (installed with
`go install github.com/smolbottle/smolbottle/cmd/fake-smolvm@VERSION`).
Each test gets its own fake: its own machines, invocation log and fault
rules, in the test's tmp_path; every machine still running at the end of
the test is stopped and deleted.
"""

import json
import os
import shutil
import subprocess

import pytest


class Fake:
    """The fake smolvm of one test."""

    def __init__(self, root):
        self.root = root
        self.scenario = root / "scenario.json"
        self._sets = 0
        self.set_faults([])

    def smolvm(self, *args, check=True):
        p = subprocess.run(["smolvm", *args], capture_output=True, text=True)
        if check and p.returncode != 0:
            raise AssertionError(f"smolvm {' '.join(args)}: exit {p.returncode}: {p.stderr}")
        return p

    def log(self, machine=None):
        """The recorded invocations, oldest first (smolvm fake log --json)."""
        args = ["fake", "log", "--json"]
        if machine is not None:
            args += ["--machine", machine]
        return json.loads(self.smolvm(*args).stdout)

    def set_faults(self, rules):
        """Replace the fault rules (the scenario file's "rules").

        The fake counts a rule's calls per scenario content: the set number
        makes each call a new content, so the counts start afresh.
        """
        self._sets += 1
        tmp = self.scenario.with_suffix(".tmp")
        tmp.write_text(json.dumps({"set": self._sets, "rules": rules}))
        os.replace(tmp, self.scenario)

    def machines(self):
        return json.loads(self.smolvm("machine", "ls", "--json").stdout)


def _fake_binary():
    path = os.environ.get("FAKE_SMOLVM_BIN") or shutil.which("fake-smolvm")
    if not path:
        pytest.fail(
            "no fake-smolvm: set FAKE_SMOLVM_BIN or install it with "
            "`go install github.com/smolbottle/smolbottle/cmd/fake-smolvm@latest`"
        )
    return os.path.abspath(path)


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """A private fake smolvm, first on PATH as `smolvm` for the test."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "smolvm").symlink_to(_fake_binary())
    # Nothing of the developer's smolvm setup reaches the fake.
    for key in list(os.environ):
        if key == "SMOLVM" or key.startswith(("SMOLVM_", "FAKE_SMOLVM_")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    # State (machines, log) under the test's own directory.
    monkeypatch.setenv("SMOLVM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("FAKE_SMOLVM_SCENARIO", str(tmp_path / "scenario.json"))
    # Machines end with this process even if pytest itself is killed.
    monkeypatch.setenv("FAKE_SMOLVM_OWNER_PID", str(os.getpid()))
    f = Fake(tmp_path)
    yield f
    # Teardown: no fault may stop the cleanup, and nothing stays running.
    f.set_faults([])
    for m in f.machines():
        f.smolvm("machine", "stop", "--name", m["name"], check=False)
        f.smolvm("machine", "delete", "--name", m["name"], "-f", check=False)
    assert f.machines() == []
