# expect: failed
# Tries every way to destroy files outside its directory, then reports what it managed.
import os
import shutil

done = []
for path in SENTINELS:  # noqa: F821 (preamble)
    attempts = {
        "write": lambda: open(path, "w").write("clobbered"),
        "append": lambda: open(path, "a").write("clobbered"),
        "chmod": lambda: os.chmod(path, 0o000),
        "truncate": lambda: os.truncate(path, 0),
        "rename": lambda: os.rename(path, path + ".moved"),
        "remove": lambda: os.remove(path),
        "rmtree": lambda: shutil.rmtree(os.path.dirname(path)),
        "create": lambda: open(os.path.join(os.path.dirname(path), "intruder"), "w").close(),
    }
    for name, attempt in attempts.items():
        try:
            attempt()
            done.append(f"{name} {path}")
        except OSError:
            pass
raise RuntimeError(f"succeeded: {done}")
