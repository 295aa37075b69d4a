# expect: timed_out
# Busy loop that ignores every catchable signal a naive harness would use to stop it.
import signal

for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGALRM, signal.SIGHUP, signal.SIGXCPU, signal.SIGUSR1):
    signal.signal(sig, signal.SIG_IGN)
while True:
    pass
