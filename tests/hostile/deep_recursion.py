# expect: failed,killed,timed_out
import sys

sys.setrecursionlimit(10**8)


def f(n):
    return f(n + 1) + 1


f(0)
