# expect: failed
# Shoots at its parent, its process group, and the harness.
import os
import signal

for target in (os.getppid(), HARNESS_PID, 1):  # noqa: F821 (preamble)
    try:
        os.kill(target, signal.SIGKILL)
    except OSError as e:
        print(target, e)
raise RuntimeError("still here")
