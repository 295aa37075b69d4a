# expect: failed,killed
# Many files, each under the per-file limit.
chunk = b"x" * (1 << 20)
for i in range(10**6):
    with open(f"part{i}.bin", "wb") as f:
        for _ in range(8):
            f.write(chunk)
