"""Per-worker cgroups (pids and memory), created by the harness, joined by the fork server.

A pids limit is the only fork-bomb stop that works for root (RLIMIT_NPROC does not bind uid 0
and counts per user otherwise); a memory limit bounds a whole program tree, where RLIMIT_AS only
bounds each process.  Either may be unavailable (no write access, cgroup v2 without delegation):
then the worker runs without it and the isolation string says so.
"""

from __future__ import annotations

import itertools
import os
import time

_SERIAL = itertools.count()
_SERVER_OVERHEAD = 64 << 20  # the fork server and the supervisor share the memory cgroup


def _own_dirs() -> dict[str, tuple[str, int]]:
    """controller -> (directory of this process's cgroup, cgroup version)."""
    mounts = {}  # "pids"/"memory"/"" (v2) -> (mount root, mount point)
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields, _, fs = line.partition(" - ")
            root, point = fields.split()[3:5]
            fstype, _, options = fs.split()[:3]
            if fstype == "cgroup2":
                mounts.setdefault("", (root, point))
            elif fstype == "cgroup":
                for controller in ("pids", "memory"):
                    if controller in options.split(","):
                        mounts[controller] = (root, point)
    found = {}
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            for controller in controllers.split(",") if controllers else [""]:
                if controller in mounts:
                    root, point = mounts[controller]
                    rel = path[len(root):] if path.startswith(root) and root != "/" else path
                    found[controller] = (point + rel.rstrip("/"), 2 if controller == "" else 1)
    dirs = {c: found[c] for c in ("pids", "memory") if c in found}
    if "" in found:  # v2: one directory for both, if the controllers are available there
        path = found[""][0]
        try:
            with open(os.path.join(path, "cgroup.controllers")) as f:
                available = f.read().split()
        except OSError:
            available = []
        for controller in ("pids", "memory"):
            if controller in available:
                dirs.setdefault(controller, (path, 2))
    return dirs


class WorkerCgroups:
    """Child cgroups for one fork server.  `joins` lists (isolation name, procs file) to write its pid to."""

    def __init__(self, max_procs: int, memory_bytes: int):
        self.joins: list[tuple[str, str]] = []
        self.oom_file: str | None = None
        self.dirs: list[str] = []
        name = f"sfteval-sbx-{os.getpid()}-{next(_SERIAL)}"
        try:
            own = _own_dirs()
        except OSError:
            return
        # The server and the supervisor count as processes too.
        wanted = {"pids": ("pids.max", str(max_procs + 2)),
                  "memory": (None, str(memory_bytes + _SERVER_OVERHEAD))}
        for controller, (parent, version) in own.items():
            path = os.path.join(parent, name)
            limit_file, value = wanted[controller]
            if limit_file is None:
                limit_file = "memory.max" if version == 2 else "memory.limit_in_bytes"
            try:
                if path not in self.dirs:
                    if version == 2:  # v2 delegation: may fail (no internal processes rule), then skip
                        with open(os.path.join(parent, "cgroup.subtree_control"), "w") as f:
                            f.write(f"+{controller}")
                    os.mkdir(path)
                    self.dirs.append(path)
                with open(os.path.join(path, limit_file), "w") as f:
                    f.write(value)
            except OSError:
                continue
            layer = {"pids": "cgroup-pids", "memory": "cgroup-mem"}[controller]
            self.joins.append((layer, os.path.join(path, "cgroup.procs")))
            if controller == "memory":
                self.oom_file = os.path.join(path, "memory.events" if version == 2 else "memory.oom_control")

    def remove(self) -> None:
        """After the server exited: a cgroup can be removed once its last process is reaped."""
        for path in reversed(self.dirs):
            for _ in range(50):
                try:
                    os.rmdir(path)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)
        self.dirs = []
