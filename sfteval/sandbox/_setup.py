"""Worker-wide isolation, set up once by each fork server before it forks any program.

Every layer is tried and, when the kernel or the container refuses it, left out: isolate()
returns the names of the layers in force, which become Verdict.isolation.

Server side: imported by _server.py only.
"""

import os
import sys
import tempfile

import _kernel

NOBODY = 65534


def isolate(cfg: dict) -> list[str]:
    skip = set(cfg["disable"])
    got = []
    for name, procs_file in cfg["cgroups"]:  # join before forking anything: children inherit
        try:
            with open(procs_file, "w") as f:
                f.write(str(os.getpid()))
            got.append(name)
        except OSError:
            pass
    got += _namespaces(cfg["limits"]["file_bytes"], skip)
    if os.geteuid() == 0 and "userns" not in got and "uid" not in skip:
        dirs = _interpreter_dirs()
        if "mntns-ro" in got and not _in_child(lambda: _nobody_can_read(dirs)):
            try:
                _expose_interpreter(dirs)
            except OSError:
                pass
        if _in_child(lambda: _nobody_can_read(dirs)):
            got.append("uid")
    if "uid" not in got:
        got.append("nocaps")  # uid 0 (real or in a user namespace) at least runs without capabilities
    if "cgroup-pids" not in got and "uid" in got:
        got.append("nproc")  # RLIMIT_NPROC binds no root, and counts every process of nobody
    if "seccomp" not in skip and _kernel.seccomp_supported() and _in_child(_seccomp_works):
        got.append("seccomp")
    if "netns" not in got:
        got.append("seccomp-net" if "seccomp" in got else "socket-patch")
    return got


def _namespaces(file_bytes: int, skip: set) -> list[str]:
    got = []
    if os.geteuid() != 0 and "userns" not in skip:
        try:  # unprivileged: a user namespace grants the capabilities for the others
            uid, gid = os.geteuid(), os.getegid()
            _kernel.unshare(_kernel.CLONE_NEWUSER)
            for path, text in (("setgroups", "deny"), ("uid_map", f"0 {uid} 1"), ("gid_map", f"0 {gid} 1")):
                with open(f"/proc/self/{path}", "w") as f:
                    f.write(text)
            got.append("userns")
        except OSError:
            pass
    if "netns" not in skip:
        try:  # a fresh network namespace has only a loopback device, and it is down
            _kernel.unshare(_kernel.CLONE_NEWNET)
            got.append("netns")
        except OSError:
            pass
    if "mntns" not in skip:
        try:
            _kernel.unshare(_kernel.CLONE_NEWNS)
            _kernel.mount("none", "/", None, _kernel.MS_REC | _kernel.MS_PRIVATE)
            flags = _kernel.MS_NOSUID | _kernel.MS_NODEV
            # Private, size-capped /tmp (workdirs live there) and /dev/shm (multiprocessing needs it).
            size = max(64 << 20, 4 * file_bytes)
            _kernel.mount("tmpfs", "/tmp", "tmpfs", flags, f"size={size},nr_inodes=16384,mode=1777")
            _kernel.mount("tmpfs", "/dev/shm", "tmpfs", flags, "size=16m,nr_inodes=1024,mode=1777")
            got.append("mntns")
            try:  # then the whole tree read-only except those two and /proc (oom_score_adj)
                _kernel.set_readonly("/", True, recursive=True)
                for path in ("/tmp", "/dev/shm", "/proc"):
                    _kernel.set_readonly(path, False, recursive=False)
                got[-1] = "mntns-ro"
            except OSError:
                _kernel.set_readonly("/", False, recursive=True)
        except OSError:
            pass
    return got


def _in_child(probe) -> bool:
    """Run a probe in a throwaway child: privilege drops and seccomp cannot be undone here."""
    pid = os.fork()
    if pid == 0:
        try:
            os._exit(0 if probe() else 1)
        finally:
            os._exit(1)
    return os.waitpid(pid, 0)[1] == 0


def drop_to_nobody() -> None:
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)


def _nobody_can_read(dirs: list[str]) -> bool:
    drop_to_nobody()
    return all(os.access(d, os.R_OK | os.X_OK) for d in dirs)


def _seccomp_works() -> bool:
    _kernel.prctl(_kernel.PR_SET_NO_NEW_PRIVS, 1)
    _kernel.install_seccomp(block_inet=True)
    return True


def _interpreter_dirs() -> list[str]:
    """Directories the program's interpreter reads: prefixes and import path, nested ones dropped."""
    dirs = {os.path.realpath(d) for d in [sys.base_prefix, sys.prefix, *sys.path] if os.path.isdir(d)}
    return sorted(d for d in dirs if not any(d.startswith(other + "/") for other in dirs))


def _closed_ancestor(path: str) -> str | None:
    """The first directory above `path` that other users cannot traverse (e.g. /root, mode 0700)."""
    parts = path.split("/")
    for i in range(2, len(parts)):
        ancestor = "/".join(parts[:i])
        if not os.stat(ancestor).st_mode & 0o001:
            return ancestor
    return None


def _expose_interpreter(dirs: list[str]) -> None:
    """Python under /root (pyenv, uv) is unreadable for nobody: in our mount namespace, cover the
    closed directory with an empty tmpfs and bind back only the interpreter's directories (which
    also hides the rest of /root from programs)."""
    closed = {}
    for d in dirs:
        ancestor = _closed_ancestor(d)
        if ancestor:
            closed.setdefault(ancestor, []).append(d)
    for ancestor, inside in closed.items():
        staged = []
        for d in inside:  # park a view of each directory before the tmpfs hides it
            stage = tempfile.mkdtemp(dir="/tmp")
            _kernel.mount(d, stage, None, _kernel.MS_BIND | _kernel.MS_REC)
            staged.append((d, stage))
        _kernel.mount("tmpfs", ancestor, "tmpfs", _kernel.MS_NOSUID | _kernel.MS_NODEV, "size=1m,mode=0755")
        for d, stage in staged:
            os.makedirs(d, mode=0o755, exist_ok=True)
            _kernel.mount(stage, d, None, _kernel.MS_BIND | _kernel.MS_REC)
            _kernel.unmount_lazily(stage)
            os.rmdir(stage)
        _kernel.set_readonly(ancestor, True, recursive=False)
