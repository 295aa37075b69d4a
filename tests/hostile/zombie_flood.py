# expect: failed,killed,timed_out
# Children exit at once and are never waited for: zombies hold pids.
import os

for _ in range(100000):
    if os.fork() == 0:
        os._exit(0)
raise RuntimeError("forked 100000 times")
