"""`sfteval ui`: the Streamlit app that ships inside the package, run by `streamlit run` in a child process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sfteval.store import default_path

APP = Path(__file__).resolve().parents[1] / "ui" / "app.py"


def command(db: Path | None, port: int, headless: bool = False) -> list[str]:
    """The `streamlit run` command line; the store path is made absolute so the app finds it from anywhere."""
    store = (db or default_path()).resolve()
    return [sys.executable, "-m", "streamlit", "run", str(APP), "--server.port", str(port),
            "--server.headless", str(headless).lower(), "--browser.gatherUsageStats", "false", "--", "--db", str(store)]


def launch(db: Path | None, port: int, headless: bool = False) -> int:
    """Run the app until Ctrl-C; returns streamlit's exit code."""
    try:
        return subprocess.call(command(db, port, headless))
    except KeyboardInterrupt:  # streamlit got the same SIGINT and stops on its own
        return 0
