"""Thin ctypes wrappers for the Linux calls Python 3.11's os module lacks.

Server side: imported by _server.py (standalone, stdlib only), never by the harness.
"""

import ctypes
import os

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38

_SYS_MOUNT_SETATTR = 442  # same number on x86_64 and aarch64 (added in Linux 5.12)
_AT_FDCWD = -100
_AT_RECURSIVE = 0x8000
_MOUNT_ATTR_RDONLY = 1

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
_libc.syscall.argtypes = [ctypes.c_long, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint, ctypes.c_void_p, ctypes.c_size_t]


class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


class _MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]


def _check(ret: int) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def unshare(flags: int) -> None:
    _check(_libc.unshare(flags))


def mount(source: str, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    _check(_libc.mount(source.encode(), target.encode(), fstype and fstype.encode(), flags,
                       data and data.encode()))


def unmount_lazily(target: str) -> None:
    _check(_libc.umount2(target.encode(), 2))  # MNT_DETACH


def set_readonly(path: str, readonly: bool, recursive: bool) -> None:
    """mount_setattr(2): unlike a remount it flips every mount below `path` at once."""
    attr = _MountAttr(_MOUNT_ATTR_RDONLY if readonly else 0, 0 if readonly else _MOUNT_ATTR_RDONLY, 0, 0)
    _check(_libc.syscall(_SYS_MOUNT_SETATTR, _AT_FDCWD, path.encode(), _AT_RECURSIVE if recursive else 0,
                         ctypes.addressof(attr), ctypes.sizeof(attr)))


def prctl(option: int, arg: int, arg3: int = 0) -> None:
    _check(_libc.prctl(option, arg, arg3, 0, 0))


def drop_capabilities() -> None:
    """capset(2) with empty sets: uid 0 without capabilities cannot mount, ptrace or override file modes."""
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this thread
    data = (ctypes.c_uint32 * 6)()  # effective, permitted, inheritable for both 32-bit halves
    _check(_libc.capset(header, data))


# Per machine: audit arch, syscall numbers of unshare, clone, clone3, socket, io_uring_setup.
_SECCOMP_ABI = {"x86_64": (0xC000003E, 272, 56, 435, 41, 425), "aarch64": (0xC00000B7, 97, 220, 435, 198, 425)}
_CLONE_NEW_ANY = 0x7E020080  # every CLONE_NEW* flag; only CLONE_NEWUSER is allowed without privileges
_ALLOW, _ERRNO = 0x7FFF0000, 0x00050000


def seccomp_supported() -> bool:
    return os.uname().machine in _SECCOMP_ABI


def install_seccomp(block_inet: bool) -> None:
    """A small BPF filter: no new namespaces (an unprivileged user namespace is kernel attack
    surface and would hand the program capabilities inside it), no clone3 (its flags cannot be
    inspected; libc falls back to clone), no io_uring (attack surface, and it opens sockets without
    socket(2)), and optionally no AF_INET/AF_INET6 sockets (the network fallback when no network
    namespace could be made).  Needs no_new_privs first."""
    arch, nr_unshare, nr_clone, nr_clone3, nr_socket, nr_io_uring = _SECCOMP_ABI[os.uname().machine]
    # (opcode, k, jump-if-true label, jump-if-false label); a str alone is a label.
    LD, JEQ, JGE, JSET, RET = 0x20, 0x15, 0x35, 0x45, 0x06
    program = [
        (LD, 4, None, None),  # arch
        (JEQ, arch, None, "deny"),  # a foreign ABI (i386 via int 0x80) gets nothing
        (LD, 0, None, None),  # syscall number
        (JGE, 0x40000000, "deny", None),  # x32 ABI
        (JEQ, nr_unshare, "flags", None),
        (JEQ, nr_clone, "flags", None),
        (JEQ, nr_clone3, "nosys", None),
        (JEQ, nr_io_uring, "deny", None),
        (JEQ, nr_socket, "socket" if block_inet else "allow", "allow"),
        "flags",
        (LD, 16, None, None),  # low 32 bits of argument 0
        (JSET, _CLONE_NEW_ANY, "deny", "allow"),
        "socket",
        (LD, 16, None, None),  # address family
        (JEQ, 2, "deny", None),  # AF_INET
        (JEQ, 10, "deny", "allow"),  # AF_INET6
        "allow", (RET, _ALLOW, None, None),
        "deny", (RET, _ERRNO | 1, None, None),  # EPERM
        "nosys", (RET, _ERRNO | 38, None, None),  # ENOSYS
    ]
    labels, at = {}, 0
    for item in program:
        if isinstance(item, str):
            labels[item] = at
        else:
            at += 1
    filters = []
    for item in program:
        if not isinstance(item, str):
            code, k, jt, jf = item
            here = len(filters) + 1  # jumps count from the next instruction
            filters.append((code, labels[jt] - here if jt else 0, labels[jf] - here if jf else 0, k))
    array = (_SockFilter * len(filters))(*[_SockFilter(*f) for f in filters])
    prog = _SockFprog(len(filters), ctypes.cast(array, ctypes.c_void_p))
    prctl(22, 2, ctypes.addressof(prog))  # PR_SET_SECCOMP, SECCOMP_MODE_FILTER


def children(pid: int) -> list[int]:
    """Direct children of `pid` (needs CONFIG_PROC_CHILDREN; else scan /proc for the parent pid)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except FileNotFoundError:
        pass
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == pid:
                found.append(int(entry))
    return found
