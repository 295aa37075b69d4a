# expect: failed
# Writes plausible "passed" markers on every descriptor, then leaves with 0.
import os

for fd in range(3, 64):
    for guess in (b"P", b"passed", b"OK\n", b"\x00" * 32 + b"P"):
        try:
            os.write(fd, guess)
        except OSError:
            pass
os._exit(0)
