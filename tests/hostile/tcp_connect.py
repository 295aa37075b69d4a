# expect: failed
import socket

for host in ("127.0.0.1", "localhost"):
    try:
        socket.create_connection((host, PORT), timeout=0.5).sendall(b"leak")  # noqa: F821 (preamble)
        print("connected", host)
    except OSError as e:
        print("refused", host, e)
raise RuntimeError("tried to connect")
