# expect: failed,killed
chunk = b"x" * (1 << 20)
with open("huge.bin", "wb") as f:
    while True:
        f.write(chunk)
