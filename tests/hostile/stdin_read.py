# expect: failed
# detail: EOFError
input()
