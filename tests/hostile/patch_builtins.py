# expect: failed
# detail: AssertionError
# Sabotages everything a harness might call after the program.
import builtins
import os
import sys

os._exit = lambda code: None
os.write = lambda fd, data: len(data)
sys.exit = lambda *a: None
sys.excepthook = lambda *a: None
builtins.exec = lambda *a, **k: None
builtins.AssertionError = type("AssertionError", (Exception,), {})
builtins.str = builtins.repr = lambda *a, **k: 1 / 0
builtins.type = lambda *a: None
sys.modules["traceback"].format_exception = lambda *a, **k: 1 / 0
assert 1 == 2
