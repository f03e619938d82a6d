"""Tests of sandbox.py against fake-smolvm (see conftest.py)."""

import pytest

import sandbox


def commands(log):
    """(command, machine, exit) of each recorded invocation."""
    return [(e.get("command"), e.get("machine"), e.get("exit")) for e in log]


def test_run_in_a_sandbox(fake, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("remember the milk\n")
    with sandbox.Sandbox("job1") as box:
        box.put(str(notes), "/workspace/notes.txt")
        code, out, err = box.run("cat /workspace/notes.txt; echo oops >&2; exit 3")
    assert (code, out, err) == (3, "remember the milk\n", "oops\n")
    # The machine is gone, and the log shows every step in order.
    assert fake.machines() == []
    assert commands(fake.log("job1")) == [
        ("create", "job1", 0),
        ("start", "job1", 0),
        ("cp", "job1", 0),
        ("exec", "job1", 3),
        ("stop", "job1", 0),
        ("delete", "job1", 0),
    ]
    exec_argv = fake.log("job1")[3]["argv"]
    assert exec_argv[:5] == ["smolvm", "machine", "exec", "--name", "job1"]
    assert exec_argv[-3:] == ["sh", "-c", "cat /workspace/notes.txt; echo oops >&2; exit 3"]


def test_secrets_stay_out_of_argv(fake):
    with sandbox.Sandbox("job2", secrets={"API_TOKEN": "s3cret-value"}) as box:
        code, out, _ = box.run('echo "token has ${#API_TOKEN} chars"')
    assert (code, out) == (0, "token has 12 chars\n")
    (exec_entry,) = [e for e in fake.log("job2") if e["command"] == "exec"]
    assert "API_TOKEN" in exec_entry["env_keys"]
    assert "s3cret-value" not in " ".join(exec_entry["argv"])
    assert all("s3cret-value" not in k for k in exec_entry["env_keys"])


def test_a_failed_start_deletes_the_machine(fake):
    fake.set_faults([{"command": "start", "exit": 1, "stderr": "Error: agent operation failed: boot"}])
    with pytest.raises(sandbox.SmolvmError, match="boot"):
        with sandbox.Sandbox("job3"):
            pass
    assert fake.machines() == []
    assert commands(fake.log("job3")) == [
        ("create", "job3", 0),
        ("start", "job3", 1),
        ("stop", "job3", 0),
        ("delete", "job3", 0),
    ]


def test_smolvm_errors_are_not_script_failures(fake):
    # Both execs below exit 1: the library tells the script's exit from
    # smolvm's own failure by smolvm's "Error: " line.
    with sandbox.Sandbox("job4") as box:
        assert box.run("exit 1")[0] == 1
        # The machine dies during the next exec: smolvm's own error.
        fake.set_faults([{"command": "exec", "kill_machine": True}])
        with pytest.raises(sandbox.SmolvmError):
            box.run("sleep 5")
        fake.set_faults([])
    assert fake.machines() == []
    assert commands(fake.log("job4")) == [
        ("create", "job4", 0),
        ("start", "job4", 0),
        ("exec", "job4", 1),
        ("exec", "job4", 1),
        ("stop", "job4", 0),
        ("delete", "job4", 0),
    ]


def test_a_colon_in_a_host_path_is_refused(fake, tmp_path):
    with sandbox.Sandbox("job5") as box:
        with pytest.raises(ValueError):
            box.put(str(tmp_path / "report:2024.txt"), "/workspace/r.txt")
    assert [e["command"] for e in fake.log("job5")] == ["create", "start", "stop", "delete"]
