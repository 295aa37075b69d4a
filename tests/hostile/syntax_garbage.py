# expect: failed
# detail: SyntaxError
def f(:
    return ))
