# expect: timed_out
# Cancels any in-process alarm/itimer a harness might rely on, then spins.
import signal

signal.signal(signal.SIGALRM, signal.SIG_IGN)
signal.alarm(0)
signal.setitimer(signal.ITIMER_REAL, 0)
signal.setitimer(signal.ITIMER_VIRTUAL, 0)
while True:
    pass
