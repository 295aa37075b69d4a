# expect: failed,killed
# detail: MemoryError
x = bytearray(50 * 10**9)
