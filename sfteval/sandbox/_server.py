"""Fork server: one per worker, started by the harness as `python -I _server.py CONFIG_JSON`
with an almost empty environment.  It sets up the worker-wide isolation once (_setup.py),
pre-imports common stdlib modules, then forks once per program, so no program pays an
interpreter start.

With a pid namespace the serving process is its pid 1: programs see no process outside their
worker, orphans re-parent to the server, and after each program one kill(-1) empties the
namespace (detached, setsid'd grandchildren included) before the verdict goes out.  Without
one, the server is a child subreaper and hunts the leftovers down through /proc instead.

Protocol on stdin/stdout, every message a 4-byte little-endian length then the payload:
  server -> harness   hello JSON {"isolation": ...}
  harness -> server   program source (UTF-8)
  server -> harness   verdict JSON
The server exits when stdin closes.  It imports nothing but the stdlib and its siblings
_setup, _child and _kernel (found through its own directory, which it then removes from sys.path).
"""

import json
import os
import select
import shutil
import signal
import struct
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _child  # noqa: E402
import _kernel  # noqa: E402
import _setup  # noqa: E402

del sys.path[0]

# Imported here once so forked programs find them loaded (typing alone costs a few ms per program;
# socket is also what the socket-patch fallback patches).
import bisect, collections, copy, functools, hashlib, heapq, itertools  # noqa: E401,E402,F401,I001
import math, random, re, socket, string, typing  # noqa: E401,E402,F401,I001

_LEN = struct.Struct("<I")
_SIGNAL_CAUSE = {signal.SIGXCPU: "RLIMIT_CPU", signal.SIGXFSZ: "RLIMIT_FSIZE"}
_DRAIN_S = 1.0  # after the program is gone, how long its pipes may take to reach EOF


class Server:
    def __init__(self, cfg: dict):
        self.cfg, self.limits, self.layers = cfg, cfg["limits"], cfg["layers"]
        self.oom_file = cfg["oom_file"] if "cgroup-mem" in self.layers else None
        # One workdir path, made empty for every program: the programs' environment can then be
        # set here once instead of in every child.
        workroot = "/tmp" if any(g.startswith("mntns") for g in self.layers) else cfg["base"]
        self.workdir = os.path.join(tempfile.mkdtemp(dir=workroot), "work")
        os.environ.clear()
        os.environ.update(PATH="/usr/local/bin:/usr/bin:/bin", LANG="C.UTF-8", HOME=self.workdir, TMPDIR=self.workdir)

    def run(self, src: bytes) -> dict:
        os.mkdir(self.workdir, 0o700)
        try:
            if "uid" in self.layers:
                os.chown(self.workdir, _setup.NOBODY, _setup.NOBODY)
            return self._run_in(src, self.workdir)
        finally:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def _run_in(self, src: bytes, workdir: str) -> dict:
        nonce = os.urandom(16).hex().encode()
        (out_r, out_w), (err_r, err_w), (marker_r, marker_w) = pipes = [os.pipe() for _ in range(3)]
        fds = [fd for pair in pipes for fd in pair]
        oom_kills = self._oom_kills()
        start = time.monotonic()
        try:
            pid = os.fork()
            if pid == 0:
                for fd in (out_r, err_r, marker_r):
                    os.close(fd)
                _child.run_program(src, nonce, dict(workdir=workdir, out_w=out_w, err_w=err_w, marker_w=marker_w),
                                   self.cfg)
            for fd in (out_w, err_w, marker_w):
                os.close(fd)
                fds.remove(fd)
            fds.append(os.pidfd_open(pid))  # readable once the program process has exited
            caps = {out_r: self.limits["output_bytes"], err_r: self.limits["output_bytes"],
                    marker_r: 4 * _child.DETAIL_MAX}
            status, cpu, timed_out, bufs = self._collect(pid, fds[-1], caps, start + self.limits["timeout_s"])
        finally:
            self._kill_leftovers()  # normally a no-op by now; after a sandbox error it is not
            for fd in fds:
                os.close(fd)
        verdict = self._judge(nonce, bytes(bufs[marker_r]), status, cpu, timed_out, oom_kills)
        verdict.update(duration_s=time.monotonic() - start, stdout=bufs[out_r].decode("utf-8", "replace"),
                       stderr=bufs[err_r].decode("utf-8", "replace"))
        return verdict

    def _collect(self, pid: int, exited: int, caps: dict, deadline: float):
        """Read the pipes (each up to its cap) until the program exits or the deadline kills it,
        then drain what is left.  Returns (wait status, CPU seconds, timed out, buffers)."""
        bufs = {fd: bytearray() for fd in caps}
        open_fds = set(caps) | {exited}
        timed_out, drain_until, status, cpu = False, None, None, 0.0
        while open_fds:
            now = time.monotonic()
            if drain_until is not None and now >= drain_until:
                break
            if status is None and not timed_out and now >= deadline:
                os.kill(pid, signal.SIGKILL)
                timed_out = True
            wait = (drain_until if drain_until is not None else now + 1.0 if timed_out else deadline) - now
            for fd in select.select(list(open_fds), [], [], max(wait, 0.0))[0]:
                if fd == exited:
                    # The program process is gone: take its status, kill everything it left
                    # behind, then collect what is still in the pipes.
                    _, status, usage = os.wait4(pid, 0)
                    cpu = usage.ru_utime + usage.ru_stime
                    self._kill_leftovers()
                    open_fds.discard(exited)
                    drain_until = time.monotonic() + _DRAIN_S
                    continue
                data = os.read(fd, 1 << 16)
                if not data:
                    open_fds.discard(fd)
                elif len(bufs[fd]) < caps[fd]:  # over the cap: keep reading, drop the bytes
                    bufs[fd] += data[: caps[fd] - len(bufs[fd])]
        return status, cpu, timed_out, bufs

    def _kill_leftovers(self) -> None:
        """Kill and reap every remaining process of the program until we have no child left."""
        while True:
            if "pidns" in self.layers:
                try:  # as pid 1: every other process of this namespace
                    os.kill(-1, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            else:  # as subreaper: orphans re-parent to us, level by level
                for child in _kernel.children(os.getpid()):
                    try:
                        os.kill(child, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            try:
                os.waitpid(-1, 0)
            except ChildProcessError:
                return

    def _oom_kills(self) -> int:
        if not self.oom_file:
            return 0
        with open(self.oom_file) as f:
            for line in f:
                if line.startswith("oom_kill "):
                    return int(line.split()[1])
        return 0

    def _judge(self, nonce: bytes, marker: bytes, status, cpu: float, timed_out: bool, oom_kills: int) -> dict:
        if timed_out:
            return dict(status="timed_out", detail=f"wall clock limit of {self.limits['timeout_s']}s")
        at = marker.rfind(nonce)
        message = marker[at + len(nonce):] if at >= 0 else b""
        if message == b"P" and os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
            return dict(status="passed", detail="")
        if message.startswith(b"F"):
            return dict(status="failed", detail=message[1:].decode("utf-8", "replace"))
        if os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
            cause = _SIGNAL_CAUSE.get(sig)
            if sig == signal.SIGKILL and cpu >= self.limits["cpu_s"]:
                cause = "RLIMIT_CPU"
            elif sig == signal.SIGKILL and self._oom_kills() > oom_kills:
                cause = "out of memory"
            name = signal.Signals(sig).name if sig in signal.valid_signals() else f"signal {sig}"
            return dict(status="killed", detail=f"{name} ({cause})" if cause else name)
        return dict(status="failed", detail=f"exited with code {os.WEXITSTATUS(status)} before the program finished")


def _enter_pid_namespace() -> bool:
    """Fork the serving process as pid 1 of a new pid namespace; this process only waits for it."""
    try:
        _kernel.unshare(_kernel.CLONE_NEWPID)
        pid = os.fork()
    except OSError:
        return False
    if pid == 0:
        _kernel.prctl(_kernel.PR_SET_PDEATHSIG, signal.SIGKILL)  # killed with its parent: no orphan workers
        return True
    os.close(0)
    os.waitpid(pid, 0)
    os._exit(0)


def _read_exact(fd: int, n: int) -> bytes | None:
    data = b""
    while len(data) < n:
        chunk = os.read(fd, n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def _send(fd: int, payload: bytes) -> None:
    os.write(fd, _LEN.pack(len(payload)) + payload)


def main() -> None:
    # The protocol owns the real stdout; anything printed by mistake goes to stderr instead.
    reply = os.dup(1)
    os.dup2(2, 1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the harness's business
    cfg = json.loads(sys.argv[1])
    layers = _setup.isolate(cfg)
    if "pidns" not in cfg["disable"] and _enter_pid_namespace():
        layers.append("pidns")
        if any(g.startswith("mntns") for g in layers):
            try:  # a /proc of our own namespace: no host process is even listed
                _kernel.mount("proc", "/proc", "proc", _kernel.MS_NOSUID | _kernel.MS_NODEV | _kernel.MS_NOEXEC)
                layers.append("proc")
            except OSError:
                pass
    else:
        _kernel.prctl(_kernel.PR_SET_CHILD_SUBREAPER, 1)
    layers.append("rlimits")
    cfg["layers"] = layers
    server = Server(cfg)
    _send(reply, json.dumps({"isolation": "+".join(layers)}).encode())
    while True:
        header = _read_exact(0, _LEN.size)
        if header is None:
            return
        src = _read_exact(0, _LEN.unpack(header)[0])
        if src is None:
            return
        try:
            verdict = server.run(src)
        except Exception as e:  # a sandbox bug must cost one verdict, not the whole batch
            verdict = dict(status="failed", detail=f"sandbox error: {e!r}", duration_s=0.0, stdout="", stderr="")
        _send(reply, json.dumps(verdict).encode())


if __name__ == "__main__":
    main()
