# expect: failed
exit()
assert False
