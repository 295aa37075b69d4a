"""The execution sandbox against hostile programs (tests/hostile/*.py) and honest ones.

Each hostile file starts with `# expect: STATUS[,STATUS]` and optionally `# detail: TEXT`; it is
run after a preamble defining SENTINELS, PORT, HARNESS_PID and TOKEN, interleaved with honest
programs that must still pass.  Side effects (sentinel files, a TCP server, leftover processes,
the planted secret) are checked after the batch.
"""

from __future__ import annotations

import glob
import os
import re
import secrets
import shutil
import socket
import subprocess
import threading
from pathlib import Path

import pytest

from sfteval.sandbox import Limits, Verdict, run_programs

HOSTILE = {p.stem: p.read_text() for p in sorted((Path(__file__).parent / "hostile").glob("*.py"))}
LIMITS = Limits(timeout_s=1.5, cpu_s=5, memory_bytes=512 << 20)
HONEST = "def add(a, b):\n    return a + b\n\nassert add(2, 3) == 5\nprint('honest ok')\n"


def _expectation(src: str) -> tuple[set[str], str]:
    statuses = re.search(r"^# expect: (.+)$", src, re.M).group(1).split(",")
    detail = re.search(r"^# detail: (.+)$", src, re.M)
    return set(statuses), detail.group(1) if detail else ""


def _processes_with(token: str) -> list[int]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if token.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(int(pid))
        except OSError:
            pass
    return found


class _Listener:
    """A TCP server on 127.0.0.1 that records every connection it accepts."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted: list = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stopped.is_set():
            try:
                self.accepted.append(self.sock.accept()[1])
            except OSError:
                pass

    def close(self):
        self.stopped.set()
        self.thread.join()
        self.sock.close()


@pytest.fixture(scope="module")
def isolation() -> str:
    return run_programs(["pass"])[0].isolation


@pytest.fixture(scope="module")
def batch(isolation, tmp_path_factory):
    if "pidns" not in isolation and "uid" not in isolation:
        pytest.skip(f"hostile programs need a pid namespace or an unprivileged uid, have {isolation}")
    secret = secrets.token_hex(16)
    os.environ["SFTEVAL_TEST_SECRET"] = secret
    sentinels = []
    # One in pytest's private tmp dir, one in a world-writable directory outside /tmp.
    for folder in (tmp_path_factory.mktemp("sentinel"), Path("/var/tmp")):
        if folder.is_dir():
            folder = Path(os.path.realpath(folder)) / f"sfteval-sentinel-{secret[:8]}"
            folder.mkdir(mode=0o777)
            folder.chmod(0o777)
            sentinel = folder / "sentinel.txt"
            sentinel.write_text("intact")
            sentinel.chmod(0o666)
            sentinels.append(sentinel)
    listener = _Listener()
    token = f"{secrets.randbelow(9000) + 1000}.{secrets.randbelow(900000) + 100000}"
    preamble = (f"SENTINELS = {[str(s) for s in sentinels]!r}\nPORT = {listener.port}\n"
                f"HARNESS_PID = {os.getpid()}\nTOKEN = {token!r}\n")
    names = list(HOSTILE)
    programs = []
    for name in names:  # an honest program after each hostile one, on whichever worker is free
        programs += [preamble + HOSTILE[name], HONEST]
    try:
        verdicts = run_programs(programs, LIMITS)
        leftovers = _processes_with(token)
    finally:
        listener.close()
        del os.environ["SFTEVAL_TEST_SECRET"]
    yield dict(hostile=dict(zip(names, verdicts[0::2])), honest=verdicts[1::2], secret=secret,
               sentinels=sentinels, accepted=listener.accepted, leftovers=leftovers)
    for s in sentinels:
        shutil.rmtree(s.parent, ignore_errors=True)


def test_at_least_25_hostile_programs():
    assert len(HOSTILE) >= 25


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_program_is_contained(batch, name):
    verdict = batch["hostile"][name]
    statuses, detail = _expectation(HOSTILE[name])
    assert verdict.status in statuses, verdict
    assert verdict.status != "passed"
    assert detail in verdict.detail, verdict
    assert verdict.duration_s < LIMITS.timeout_s + 1.5, verdict
    assert len(verdict.stdout.encode()) <= LIMITS.output_bytes
    assert len(verdict.stderr.encode()) <= LIMITS.output_bytes


def test_honest_programs_in_the_batch_pass(batch):
    assert [v.status for v in batch["honest"]] == ["passed"] * len(batch["honest"])
    assert all(v.stdout == "honest ok\n" for v in batch["honest"])


def test_files_outside_the_workdir_are_intact(batch):
    assert batch["sentinels"], "no sentinel could be created"
    for sentinel in batch["sentinels"]:
        assert sentinel.read_text() == "intact"
        assert sentinel.stat().st_mode & 0o777 == 0o666
        assert sorted(os.listdir(sentinel.parent)) == ["sentinel.txt"]
    assert "succeeded: []" in batch["hostile"]["clobber_sentinel"].detail


def test_no_privileged_operation_succeeds(batch):
    assert "ESCALATED=[]" in batch["hostile"]["escalate"].detail


def test_parent_environment_does_not_leak(batch):
    for verdict in [*batch["hostile"].values(), *batch["honest"]]:
        assert batch["secret"] not in verdict.stdout + verdict.stderr + verdict.detail


def test_no_network(batch):
    assert batch["accepted"] == []
    assert "connected" not in batch["hostile"]["tcp_connect"].stdout


def test_no_process_survives_its_verdict(batch):
    assert batch["leftovers"] == []


def test_worker_cgroups_are_removed(batch):
    assert glob.glob(f"/sys/fs/cgroup/**/sfteval-sbx-{os.getpid()}-*", recursive=True) == []


def test_large_output_is_capped(batch):
    assert len(batch["hostile"]["print_10gb"].stdout) == LIMITS.output_bytes


def test_isolation_is_reported(isolation, batch):
    assert {v.isolation for v in batch["hostile"].values()} == {isolation}
    layers = isolation.split("+")
    assert "rlimits" in layers and {"netns", "seccomp-net", "socket-patch"} & set(layers)


def test_full_isolation_where_the_kernel_allows_it(isolation):
    """As root with CAP_SYS_ADMIN (this project's containers) every layer must be in force."""
    if os.geteuid() != 0 or subprocess.run(["unshare", "-n", "-p", "-f", "-m", "true"]).returncode != 0:
        pytest.skip("namespaces unavailable here")
    for layer in ("netns", "mntns-ro", "pidns", "uid", "seccomp"):
        assert layer in isolation.split("+")


def test_honest_verdicts_and_details():
    programs = [
        "assert sorted([3, 1, 2]) == [1, 2, 3]",
        "assert 1 + 1 == 3",
        "def f(x):\n    return x * 2\nassert f(2) == 5, 'f(2) returned ' + str(f(2))",
        "raise ValueError('boom 42')",
        "import math, typing, collections, socket, json\nassert math.gcd(12, 18) == 6",
        "if __name__ == '__main__':\n    raise SystemExit('main block ran')",
    ]
    got = [(v.status, v.detail) for v in run_programs(programs, Limits(timeout_s=5))]
    assert got == [("passed", ""), ("failed", "AssertionError"), ("failed", "AssertionError: f(2) returned 4"),
                   ("failed", "ValueError: boom 42"), ("passed", ""), ("passed", "")]


def test_order_progress_and_empty_batch():
    calls = []
    verdicts = run_programs([f"print({i})" for i in range(20)], progress=calls.append, workers=3)
    assert [v.stdout for v in verdicts] == [f"{i}\n" for i in range(20)]
    assert calls == [1] * 20
    assert run_programs([]) == []


def test_each_program_starts_in_an_empty_workdir():
    litter = "import os\nopen('litter.txt', 'w').write('x')\nos.mkdir('sub')\nos.chmod('sub', 0)"
    check = "import os\nassert os.listdir('.') == [], os.listdir('.')\nassert os.environ['HOME'] == os.getcwd()"
    verdicts = run_programs([litter, check, litter, check], workers=1)
    assert [v.status for v in verdicts] == ["passed"] * 4, verdicts


def test_program_never_runs_in_the_harness_process():
    src = "import os\nprint(os.getpid(), os.readlink('/proc/self'), os.getppid())"
    verdict = run_programs([src])[0]
    assert verdict.status == "passed"
    assert str(os.getpid()) not in verdict.stdout.split()


def test_output_cap():
    src = "import sys\nprint('o' * 100000)\nsys.stderr.write('e' * 100000)"
    verdict = run_programs([src], Limits(output_bytes=1000))[0]
    assert (verdict.status, verdict.stdout, verdict.stderr) == ("passed", "o" * 1000, "e" * 1000)


def test_cpu_limit_kills_even_when_sigxcpu_is_ignored():
    src = "import signal\nsignal.signal(signal.SIGXCPU, signal.SIG_IGN)\nwhile True:\n    pass"
    verdict = run_programs([src], Limits(timeout_s=10, cpu_s=1))[0]
    assert (verdict.status, verdict.detail) == ("killed", "SIGKILL (RLIMIT_CPU)")


def test_memory_cgroup_kills_a_process_tree(isolation):
    if "cgroup-mem" not in isolation:
        pytest.skip("no memory cgroup here")
    # Each process stays under RLIMIT_AS; together they exceed the tree's cgroup limit.
    src = ("import os, time\ndef touch(mib):\n    b = bytearray(mib << 20)\n"
           "    for i in range(0, len(b), 4096):\n        b[i] = 1\n    return b\n"
           "if os.fork() == 0:\n    keep = touch(120)\n    time.sleep(30)\nbig = touch(230)\n")
    verdict = run_programs([src], Limits(timeout_s=10, memory_bytes=256 << 20))[0]
    assert (verdict.status, verdict.detail) == ("killed", "SIGKILL (out of memory)")


@pytest.fixture(params=["", ",seccomp"])
def weakest(request, monkeypatch) -> str:
    """Every optional layer off (what a container without privileges gets), with and without seccomp."""
    monkeypatch.setenv("SFTEVAL_SANDBOX_DISABLE", "netns,mntns,pidns,uid,cgroup,userns" + request.param)
    isolation = run_programs(["pass"])[0].isolation
    if request.param:
        assert isolation == "nocaps+socket-patch+rlimits"
    else:  # socket-patch too on machines seccomp does not know
        assert isolation in ("nocaps+seccomp+seccomp-net+rlimits", "nocaps+socket-patch+rlimits")
    return isolation


def test_fallbacks_still_contain_the_basics(weakest):
    listener = _Listener()
    token = f"{secrets.randbelow(9000) + 1000}.{secrets.randbelow(900000) + 100000}"
    preamble = f"PORT = {listener.port}\nTOKEN = {token!r}\n"
    names = ["infinite_loop", "detached_child", "tcp_connect", "os_exit_zero", "sys_exit_zero", "patch_builtins"]
    workdir = "import os\nprint(os.getcwd())"
    try:
        verdicts = run_programs([preamble + HOSTILE[n] for n in names] + [HONEST, workdir], Limits(timeout_s=1.5))
        leftovers = _processes_with(token)
    finally:
        listener.close()
    for name, verdict in zip(names, verdicts):
        assert verdict.status in _expectation(HOSTILE[name])[0], (name, verdict)
    assert verdicts[-2].status == "passed"
    assert leftovers == [] and listener.accepted == []
    assert not os.path.exists(verdicts[-1].stdout.strip())  # the workdir is gone


def test_harness_survives_a_program_that_kills_its_server(weakest):
    # Without pid namespace and uid the program can reach its fork server: it must cost one verdict.
    src = "import os\nos.kill(os.getppid(), 9)"
    verdicts = run_programs([src, HONEST, HONEST], Limits(timeout_s=2), workers=1)
    assert verdicts[0].status == "killed" and "server died" in verdicts[0].detail
    assert [v.status for v in verdicts[1:]] == ["passed", "passed"]


def test_verdict_is_a_frozen_dataclass():
    v = Verdict("passed", "", 0.0, "", "", "rlimits")
    with pytest.raises(AttributeError):
        v.status = "failed"
