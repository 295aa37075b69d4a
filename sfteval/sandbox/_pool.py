"""Harness side of one worker: starts a fork server, feeds it programs, reads verdicts back."""

from __future__ import annotations

import json
import os
import select
import struct
import subprocess
import sys
import time

from sfteval.sandbox._cgroup import WorkerCgroups

_SERVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_server.py")
_LEN = struct.Struct("<I")
# The server starts from this, not from the harness's environment: no secrets, no PYTHON* knobs.
_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
_START_TIMEOUT_S = 60.0
_REPLY_GRACE_S = 30.0  # beyond the program's own limit, before the server is presumed wedged


class ServerDied(Exception):
    pass


class Worker:
    def __init__(self, limits: dict, base: str, disable: list[str]):
        self.limits, self.base, self.disable = limits, base, disable
        self.proc: subprocess.Popen | None = None
        self.cgroups: WorkerCgroups | None = None
        self.isolation = ""

    def start(self) -> None:
        if "cgroup" not in self.disable:
            self.cgroups = WorkerCgroups(self.limits["max_procs"], self.limits["memory_bytes"])
        cfg = dict(limits=self.limits, base=self.base, disable=self.disable,
                   cgroups=self.cgroups.joins if self.cgroups else [],
                   oom_file=self.cgroups.oom_file if self.cgroups else None)
        self.proc = subprocess.Popen([sys.executable, "-I", _SERVER, json.dumps(cfg)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=_ENV, cwd="/",
                                     close_fds=True, start_new_session=True)
        self.isolation = json.loads(self._receive(_START_TIMEOUT_S))["isolation"]

    def run(self, src: str) -> dict:
        """One verdict dict; raises ServerDied when the server crashed or hung (then restart())."""
        payload = src.encode("utf-8", "surrogatepass")
        try:
            os.write(self.proc.stdin.fileno(), _LEN.pack(len(payload)) + payload)
        except OSError as e:
            raise ServerDied(repr(e)) from e
        return json.loads(self._receive(self.limits["timeout_s"] + _REPLY_GRACE_S))

    def _receive(self, timeout: float) -> bytes:
        deadline = time.monotonic() + timeout
        header = self._read(_LEN.size, deadline)
        return self._read(_LEN.unpack(header)[0], deadline)

    def _read(self, n: int, deadline: float) -> bytes:
        fd, data = self.proc.stdout.fileno(), b""
        while len(data) < n:
            if not select.select([fd], [], [], max(deadline - time.monotonic(), 0))[0]:
                raise ServerDied("no reply in time")
            chunk = os.read(fd, n - len(data))
            if not chunk:
                raise ServerDied(f"exit code {self.proc.poll()}")
            data += chunk
        return data

    def restart(self) -> None:
        self.stop()
        self.start()

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stdin.close()  # EOF: the server returns, and its pid namespace dies with it
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc.stdout.close()
            self.proc = None
        if self.cgroups is not None:
            self.cgroups.remove()
            self.cgroups = None
