# expect: failed
# A daemon thread starts a detached process while the main thread fails.
import subprocess
import threading
import time

threading.Thread(target=lambda: subprocess.Popen(["/bin/sleep", TOKEN], start_new_session=True),  # noqa: F821
                 daemon=True).start()
threading.Thread(target=lambda: time.sleep(1000), daemon=True).start()
time.sleep(0.3)
raise RuntimeError("threads left running")
