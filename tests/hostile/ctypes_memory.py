# expect: killed,failed
# Scribbles over interpreter memory.
import ctypes

ctypes.memset(id(len), 0, 4096)
ctypes.string_at(0)
len("x")
