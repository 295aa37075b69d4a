# expect: failed,killed,timed_out
# Each child stays under the per-process address-space limit; together they do not.
import os

pids = []
for _ in range(8):
    pid = os.fork()
    if pid == 0:
        block = bytearray(400 << 20)
        for i in range(0, len(block), 4096):
            block[i] = 1
        os._exit(0)
    pids.append(pid)
codes = [os.waitstatus_to_exitcode(os.waitpid(p, 0)[1]) for p in pids]
raise RuntimeError(f"children exited with {codes}")
