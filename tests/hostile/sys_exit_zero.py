# expect: failed
# detail: SystemExit
import sys

sys.exit(0)
assert False, "the tests would have failed"
