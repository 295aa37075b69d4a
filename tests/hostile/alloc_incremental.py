# expect: failed,killed
# Touches memory 64 MiB at a time until something gives.
chunks = []
while True:
    chunks.append(bytearray(64 << 20))
