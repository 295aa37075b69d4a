# expect: failed
# Double fork + setsid: a grandchild in its own session that must still not survive the verdict.
import os

if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv("/bin/sleep", ["sleep", TOKEN])  # noqa: F821 (preamble)
    os._exit(0)
os.wait()
raise RuntimeError("left a grandchild behind")
