"""What runs in the process the server forks for one program: limits, privilege drop, then the
untrusted source.  Server side: imported by _server.py only.  run_program never returns.
"""

import builtins
import os
import resource
import signal
import sys
import traceback

import _kernel
import _setup

DETAIL_MAX = 2000
_MARKER_FD = 3


def run_program(src: bytes, nonce: bytes, job: dict, cfg: dict) -> None:
    try:
        _confine(job, cfg)
    except BaseException as e:
        os.write(job["marker_w"], nonce + b"Fsandbox setup failed: " + repr(e).encode()[:DETAIL_MAX])
        os._exit(1)
    _execute(src, nonce)


def _confine(job: dict, cfg: dict) -> None:
    limits = cfg["limits"]
    null = os.open("/dev/null", os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(job["out_w"], 1)
    os.dup2(job["err_w"], 2)
    os.dup2(job["marker_w"], _MARKER_FD)
    # Everything else (the server's pipes to the harness) must be unreachable.
    os.closerange(_MARKER_FD + 1, resource.getrlimit(resource.RLIMIT_NOFILE)[0])
    os.setsid()
    os.chdir(job["workdir"])
    # The OOM killer must pick the program, not the server.
    fd = os.open("/proc/self/oom_score_adj", os.O_WRONLY)
    os.write(fd, b"1000")
    os.close(fd)

    def cap(which: int, value: int) -> None:
        resource.setrlimit(which, (value, value))

    cap(resource.RLIMIT_AS, limits["memory_bytes"])
    cap(resource.RLIMIT_FSIZE, limits["file_bytes"])
    cap(resource.RLIMIT_NOFILE, limits["open_files"])
    cap(resource.RLIMIT_CORE, 0)
    # Soft limit sends SIGXCPU; the hard limit one second later is a SIGKILL for programs that catch it.
    resource.setrlimit(resource.RLIMIT_CPU, (limits["cpu_s"], limits["cpu_s"] + 1))
    if "nproc" in cfg["layers"]:
        cap(resource.RLIMIT_NPROC, limits["max_procs"])
    if "socket-patch" in cfg["layers"]:
        _patch_socket_module()
    if "uid" in cfg["layers"]:
        _setup.drop_to_nobody()
    # Whatever uid is left (0 when nobody was unusable) keeps no capabilities, and no setuid
    # binary (su, ping, ...) may hand any back.
    _kernel.drop_capabilities()
    _kernel.prctl(_kernel.PR_SET_NO_NEW_PRIVS, 1)
    # Set after the uid change, which clears it: without a pid namespace nothing else would stop
    # the program from outliving a dead server.
    _kernel.prctl(_kernel.PR_SET_PDEATHSIG, signal.SIGKILL)
    if "seccomp" in cfg["layers"]:
        _kernel.install_seccomp(block_inet="seccomp-net" in cfg["layers"])
    # The program must not find the sandbox's own modules, nor share the server's random state.
    for name in ("_kernel", "_setup", "_child"):
        sys.modules.pop(name, None)
    sys.argv = [""]
    if "random" in sys.modules:
        sys.modules["random"].seed()


def _patch_socket_module() -> None:
    """Last resort without network namespace and seccomp: weak, ctypes or a subprocess gets around it."""
    import _socket
    import socket

    def refuse(*args, **kwargs):
        raise PermissionError("network access is disabled in the sandbox")

    socket.socket = _socket.socket = socket.create_connection = socket.socketpair = refuse


def _execute(src: bytes, nonce: bytes) -> None:
    # Bind everything needed after the program into locals first: the program may monkeypatch
    # os, sys and builtins.  "Passed" is the nonce written only after exec returned; the nonce is
    # never in the program's globals (a determined program could still dig it out of this frame).
    # Only this process reports: a forked copy reaching the end (parent already gone) is no pass.
    write, exit_, getpid, marker_fd = os.write, os._exit, os.getpid, _MARKER_FD
    me, out, err = getpid(), sys.stdout, sys.stderr
    try:
        try:
            exec(compile(src, "<program>", "exec"), {"__name__": "__sandbox__", "__builtins__": builtins})
            message = b"P"
        except BaseException as e:  # SystemExit too: sys.exit(0) before the end is not a pass
            message = b"F" + _describe(e).encode("utf-8", "replace")
            try:
                err.write("".join(traceback.format_exception(e)))
            except BaseException:
                pass
        for stream in (out, err):
            try:
                stream.flush()
            except BaseException:
                pass
        if getpid() == me:
            write(marker_fd, nonce + message)
        exit_(0 if message == b"P" else 1)
    finally:
        exit_(1)


def _describe(e: BaseException, str=str, type=type) -> str:
    # Builtins bound at definition: the program may have replaced builtins.str or builtins.type.
    try:
        name = type(e).__name__
    except BaseException:
        return "unprintable exception"
    try:
        text = str(e)
    except BaseException:
        text = ""
    return (f"{name}: {text}" if text else name)[:DETAIL_MAX]
