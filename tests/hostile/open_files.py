# expect: failed
# detail: OSError
files = [open(f"f{i}", "w") for i in range(100000)]
