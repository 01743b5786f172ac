"""The lesson-08 widget in a real browser: a Jupyter server on localhost, headless Chromium driven by Playwright.

Runs the widget cell of a tiny notebook, clicks Run, watches the preview change, clicks Stop, checks that the run
ended within one evaluation of the click, and saves a screenshot. Skips (with the reason) where Chromium or Playwright
is missing: `apt-get install -y chromium` and `pip install playwright` (never `playwright install`: we drive Debian's
chromium binary). Set STYLECOURSE_SCREENSHOT=images/08_widget.png to refresh the lesson's picture.
"""
import json, os, re, secrets, shutil, signal, socket, subprocess, sys, time, urllib.request
from pathlib import Path

import pytest

CHROMIUM = next((p for p in (os.environ.get("STYLECOURSE_CHROMIUM"), shutil.which("chromium"), "/usr/bin/chromium",
                             shutil.which("chromium-browser")) if p and Path(p).exists()), None)
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-dev-shm-usage"]

CELL = """\
import os, warnings
os.environ["STYLECOURSE_WEIGHTS"] = "random"  # no downloads in tests
warnings.simplefilter("ignore")
from stylecourse.widgets import StyleTransferApp
app = StyleTransferApp(size={size}, steps=1000, every=1, save_path="browser.png")
app"""
SHOT = os.environ.get("STYLECOURSE_SCREENSHOT")  # set: a larger image and a longer run, for the lesson's picture
SIZE, BEFORE_STOP = (128, 12) if SHOT else (32, 3)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _notebook(path: Path):
    nb = {"cells": [{"cell_type": "code", "execution_count": None, "id": "app", "metadata": {}, "outputs": [],
                     "source": CELL.format(size=SIZE)}],
          "metadata": {"kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
                       "language_info": {"name": "python"}},
          "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(nb))


@pytest.fixture
def jupyter(tmp_path):
    "A Jupyter Notebook 7 server on localhost with a token, serving a temp dir; yields (base url, token, dir)."
    pytest.importorskip("notebook", reason="the Jupyter `notebook` package is not installed")
    root, home = tmp_path / "nb", tmp_path / "home"
    root.mkdir(); home.mkdir()
    _notebook(root / "app.ipynb")
    port, token = _free_port(), secrets.token_hex(16)
    env = os.environ | dict(JUPYTER_CONFIG_DIR=str(home / "config"), JUPYTER_RUNTIME_DIR=str(home / "runtime"),
                            JUPYTERLAB_SETTINGS_DIR=str(home / "settings"), JUPYTERLAB_WORKSPACES_DIR=str(home / "ws"),
                            IPYTHONDIR=str(home / "ipython"), STYLECOURSE_WEIGHTS="random", MPLBACKEND="Agg")
    env.pop("IN_TEST", None)
    cmd = [sys.executable, "-m", "notebook", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}", "--ServerApp.open_browser=False"]
    if hasattr(os, "geteuid") and os.geteuid() == 0: cmd.append("--allow-root")  # CI containers run as root
    log = open(tmp_path / "server.log", "w")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):  # wait for the server to answer (≤ 60 s)
            if proc.poll() is not None: pytest.fail(f"jupyter server exited: {(tmp_path / 'server.log').read_text()[-2000:]}")
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                break
            except OSError: time.sleep(0.2)
        else: pytest.fail("jupyter server did not start within 60 s")
        yield base, token, root
    finally:
        try: urllib.request.urlopen(urllib.request.Request(f"{base}/api/shutdown?token={token}", method="POST"), timeout=5)
        except OSError: pass
        try: proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(10)
        log.close()


def _status(page) -> str: return page.locator(".stylecourse-status").inner_text()


def test_widget_in_browser(jupyter, tmp_path):
    if CHROMIUM is None: pytest.skip("no Chromium: `apt-get install -y chromium` to run the browser test")
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed: `pip install playwright`")
    base, token, root = jupyter
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch_persistent_context(str(tmp_path / "chromium"), executable_path=CHROMIUM,
                                                       headless=True, args=CHROMIUM_ARGS,
                                                       viewport={"width": 1280, "height": 900})
        page = None
        try:
            page = browser.new_page()
            page.goto(f"{base}/notebooks/app.ipynb?token={token}")
            cell = page.locator(".jp-Cell .jp-InputArea-editor").first
            cell.wait_for(timeout=60_000)
            page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=60_000)
            prompt = page.locator(".jp-InputPrompt").first
            for _ in range(5):  # run the widget cell; a key press before the page is ready can get lost
                cell.click()
                page.keyboard.press("Shift+Enter")
                try:
                    page.wait_for_function("p => !/\\[ \\]/.test(p.innerText)", arg=prompt.element_handle(), timeout=5_000)
                    break
                except sync_api.TimeoutError: pass
            else: pytest.fail("could not start the widget cell: Shift+Enter did nothing")
            app = page.locator(".stylecourse-app")
            app.wait_for(timeout=90_000)
            preview = page.locator(".stylecourse-preview")
            first = preview.get_attribute("src")
            app.locator("button", has_text="Run").click()
            seen = {first}
            deadline = time.time() + (300 if SHOT else 60)
            while time.time() < deadline:  # the preview must change while the run goes on, and the page stay live
                seen.add(preview.get_attribute("src"))
                m = re.search(r"evaluation (\d+) of", _status(page))
                if m and int(m.group(1)) >= BEFORE_STOP and len(seen) >= 3: break
                time.sleep(0.05)
            else: pytest.fail(f"the preview did not refresh during the run; status: {_status(page)!r}")
            shown = int(re.search(r"evaluation (\d+) of", _status(page)).group(1))
            app.locator("button", has_text="Stop").click()
            page.wait_for_function("document.querySelector('.stylecourse-status').innerText.includes('stopped after')",
                                   timeout=30_000)
            m = re.search(r"stopped after evaluation (\d+) \(Stop pressed after evaluation (\d+)\)", _status(page))
            assert m, _status(page)
            ended, pressed = int(m.group(1)), int(m.group(2))
            assert pressed >= shown, (pressed, shown)  # the kernel saw the click after what the page showed
            assert ended - pressed <= 1, f"the run went on for {ended - pressed} evaluations after Stop"
            assert ended < 1000
            shot = tmp_path / "widget.png"
            app.screenshot(path=str(shot))  # after Stop: the status line tells how the run ended
            assert shot.stat().st_size > 1000
            if SHOT: shutil.copy(shot, SHOT)  # refresh the lesson's picture on request
            app.locator("button", has_text="Save").click()
            page.wait_for_function("document.querySelector('.stylecourse-status').innerText.includes('saved')",
                                   timeout=30_000)
            assert (root / "browser.png").stat().st_size > 0
        except BaseException:
            if page is not None: page.screenshot(path=str(tmp_path / "failure.png"))  # kept in tmp_path for a look
            raise
        finally:
            browser.close()
