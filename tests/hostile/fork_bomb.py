# expect: failed,killed,timed_out
import os

while True:
    os.fork()
