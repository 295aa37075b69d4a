"""The app in a real browser: `streamlit run app.py` on 127.0.0.1 against the fixture store, every page loaded by
headless Chromium (Debian's chromium and chromium-driver, installed here with apt-get when missing), its expected
text found, and a screenshot saved under tests/artifacts/. Also `sfteval ui` serving the app from the package."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
# url path -> text the page shows on the fixture store (see tests/analysis_store.py for where the numbers come from)
PAGES = {
    "": ["Leaderboard", "87.5", "[52.9, 97.8]", "GSM8K accuracy (%) per run, with 95% intervals"],
    "strategies": ["Training strategies", "dmt k=1/4", "Holm-adjusted", "Strategies on tiny-llama, data amount 1"],
    "scaling": ["Scaling and conflict", "-62.5 [-87.5, -25.0]", "positive = mixing helped, negative = conflict"],
    "ratios": ["Data ratios", "general=1, specialist varies", "37.5 [13.7, 69.4]"],
    "forgetting": ["Forgetting across stages", "Score after each training stage", "62.5", "Backward transfer"],
    "compare": ["Compare two runs", "Flipped problems", "mcnemar"],
    "samples": ["Samples", "extracted answer / verdict", "Prompt"],
    "data": ["Training data", "Examples per source in each stage of grid fixture", "9600"],
}
pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serving(command: list[str], port: int, log: Path):
    """A Streamlit server started by `command`, once its health check answers."""
    with log.open("w") as out:
        server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as reply:
                    assert reply.read() == b"ok"
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.3)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=30)


def streamlit_run(db: Path, log: Path):
    port = free_port()
    return serving([sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.headless", "true",
                    "--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats",
                    "false", "--", "--db", str(db)], port, log)


def install_chromium() -> None:
    """Debian's chromium and chromium-driver, through apt-get when they are missing."""
    if shutil.which("chromium") and shutil.which("chromedriver"):
        return
    if not shutil.which("apt-get") or os.geteuid() != 0:
        pytest.skip("needs chromium and chromedriver; installing them needs apt-get as root "
                    "(`apt-get install chromium chromium-driver`)")
    install = ["apt-get", "install", "-y", "-q", "chromium", "chromium-driver"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if subprocess.run(install, capture_output=True, env=env).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], capture_output=True, env=env)
        done = subprocess.run(install, capture_output=True, text=True, env=env)
        if done.returncode != 0:
            pytest.skip(f"apt-get cannot install chromium here: {(done.stderr or done.stdout).strip()[-300:]}")


@pytest.fixture(scope="module")
def browser():
    install_chromium()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1440,2000"):
        options.add_argument(flag)
    options.binary_location = shutil.which("chromium")
    driver = webdriver.Chrome(options=options, service=Service(shutil.which("chromedriver")))
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def app_url(analysis_store, tmp_path_factory):
    with streamlit_run(analysis_store.path, tmp_path_factory.mktemp("server") / "streamlit.log") as url:
        yield url


def load(driver, url: str, expected: list[str], screenshot: Path) -> None:
    """Open url, wait until the page has run, its charts are drawn and every expected text is in the page (the
    table cells are in the DOM for screen readers), then screenshot it."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def ready(d) -> bool:
        if d.find_elements(By.CSS_SELECTOR, '[data-testid="stStatusWidget"]'):  # the script is still running
            return False
        if d.find_elements(By.CSS_SELECTOR, '[data-testid="stException"]'):
            return True
        charts = d.find_elements(By.CSS_SELECTOR, '[data-testid="stPlotlyChart"]')
        if any(not chart.find_elements(By.CSS_SELECTOR, ".main-svg") for chart in charts):
            return False
        return all(text in d.page_source or text in d.find_element(By.TAG_NAME, "body").text for text in expected)

    driver.get(url)
    try:
        WebDriverWait(driver, 120, poll_frequency=0.5).until(ready)
    finally:
        ARTIFACTS.mkdir(exist_ok=True)
        time.sleep(1)  # let the last frame paint
        driver.save_screenshot(str(screenshot))
    errors = driver.find_elements(By.CSS_SELECTOR, '[data-testid="stException"]')
    assert not errors, errors[0].text


@pytest.mark.parametrize("page", list(PAGES))
def test_page_in_a_browser(page, browser, app_url):
    load(browser, f"{app_url}/{page}", PAGES[page], ARTIFACTS / f"app_{page or 'leaderboard'}.png")


def test_empty_store_in_a_browser(browser, tmp_path):
    from sfteval.store import Store

    Store(tmp_path / "empty.duckdb")
    with streamlit_run(tmp_path / "empty.duckdb", tmp_path / "streamlit.log") as url:
        load(browser, f"{url}/scaling", ["No results to show yet", "sfteval grid configs/demo.yaml"],
             ARTIFACTS / "app_empty_store.png")


def test_sfteval_ui_serves_the_packaged_app(analysis_store, browser, tmp_path):
    port = free_port()
    command = [sys.executable, "-m", "sfteval", "ui", "--db", str(analysis_store.path), "--port", str(port),
               "--headless"]
    with serving(command, port, tmp_path / "ui.log") as url:
        load(browser, f"{url}/strategies", PAGES["strategies"], ARTIFACTS / "sfteval_ui_strategies.png")
    # stopping `sfteval ui` stops the server: no orphan left serving on the port
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=5):
        pass
