# expect: timed_out
import time

time.sleep(10**6)
