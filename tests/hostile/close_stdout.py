# expect: failed
# detail: AssertionError: after closing
import os
import sys

sys.stdout.close()
os.close(1)
os.close(2)
assert False, "after closing"
