# expect: failed
# Reports every privileged operation that worked (the test requires none did).
import ctypes
import os

done = []
libc = ctypes.CDLL(None, use_errno=True)
attempts = {
    "setuid0": lambda: os.setuid(0),
    "chroot": lambda: os.chroot("."),
    "unshare_user": lambda: libc.unshare(0x10000000) == 0 or (_ for _ in ()).throw(OSError()),
    "mount": lambda: libc.mount(b"none", b".", b"tmpfs", 0, None) == 0 or (_ for _ in ()).throw(OSError()),
    "write_etc": lambda: open("/etc/sfteval_intruder", "w").close(),
    "write_work": lambda: open("/work/sfteval_intruder", "w").close(),
}
for name, attempt in attempts.items():
    try:
        attempt()
        done.append(name)
    except OSError:
        pass
raise RuntimeError(f"ESCALATED={done}")
