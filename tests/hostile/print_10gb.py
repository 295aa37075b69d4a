# expect: timed_out,failed,killed
chunk = "x" * (1 << 20)
for _ in range(10 * 1024):
    print(chunk)
