# expect: failed,killed,timed_out
# Fork in a loop and keep going whatever happens: only the pids limit and the timeout stop it.
import os

while True:
    try:
        os.fork()
    except OSError:
        pass
