"""`sfteval ui`: the Streamlit app that ships inside the package, served by `streamlit run`."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from sfteval.store import default_path

APP = Path(__file__).resolve().parents[1] / "ui" / "app.py"


def command(db: Path | None, port: int, headless: bool = False) -> list[str]:
    """The `streamlit run` command line; the store path is made absolute so the app finds it from anywhere."""
    store = (db or default_path()).resolve()
    return [sys.executable, "-m", "streamlit", "run", str(APP), "--server.port", str(port),
            "--server.headless", str(headless).lower(), "--browser.gatherUsageStats", "false", "--", "--db", str(store)]


def launch(db: Path | None, port: int, headless: bool = False) -> None:
    """Become `streamlit run` (exec, not a child): Ctrl-C or a supervisor's SIGTERM then stops the server itself
    instead of orphaning it."""
    argv = command(db, port, headless)
    os.execv(argv[0], argv)
