# expect: failed
import os

os._exit(0)
assert False, "the tests would have failed"
