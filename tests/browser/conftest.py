"""Fixtures for the real-browser tests (JupyterLab + Debian's Chromium via Playwright).

Fixtures
--------
lab_root (session)
    Temporary copy of the folder served by Lab: env ``SAMPLEVAE_BROWSER_NOTEBOOKS`` or the
    repository's ``notebooks/``. Tests may add their own notebooks to it.
lab_server (session)
    :class:`lab.LabServer` serving ``lab_root``; stopped (bounded) at the end.
browser (session)
    Playwright Chromium browser (``/usr/bin/chromium`` or env ``SAMPLEVAE_CHROMIUM``).
    Missing Chromium FAILS the test (run ``scripts/install_browser.sh``) unless
    ``SAMPLEVAE_SKIP_BROWSER=1`` is set, which skips the browser tests instead.
page (function)
    A fresh browser context + page (1400x1000). On teardown the kernels of the test are
    shut down, the console log is written to ``<tmp_path>/browser-console.log`` and, if
    the test failed, a screenshot to ``<tmp_path>/screenshots/FAILED.png``.
screenshot_dir (function)
    ``<tmp_path>/screenshots``.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import lab  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
SKIP_ENV = "SAMPLEVAE_SKIP_BROWSER"


def _skip_requested() -> bool:
    return os.environ.get(SKIP_ENV, "").strip().lower() in ("1", "true", "yes")


#: Environment of the Lab server and so of its kernels: notebooks run in smoke mode.
LAB_ENV = {"SAMPLEVAE_SMOKE": "1"}


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"rep_{report.when}", report)  # lets `page` see whether the test failed
    return report


@pytest.fixture(scope="session")
def browser_requirements():
    """Fail (or skip with SAMPLEVAE_SKIP_BROWSER=1) when Chromium or Playwright is missing."""
    problems = []
    chromium = lab.chromium_path()
    if not (chromium.is_file() and os.access(chromium, os.X_OK)):
        problems.append(
            f"Chromium not found at {chromium}: run `bash scripts/install_browser.sh` "
            "(apt-get install chromium) or set SAMPLEVAE_CHROMIUM to the browser binary"
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        problems.append(f"Playwright for Python is not installed ({exc}): pip install playwright")
    if problems:
        message = "; ".join(problems)
        if _skip_requested():
            pytest.skip(f"{SKIP_ENV}=1: {message}")
        pytest.fail(
            f"browser tests cannot run: {message} (set {SKIP_ENV}=1 to skip them)", pytrace=False
        )
    if _skip_requested():
        pytest.skip(f"{SKIP_ENV}=1: browser tests skipped on request")
    return chromium


@pytest.fixture(scope="session")
def lab_root(tmp_path_factory) -> Path:
    """Temporary copy of the notebooks folder that JupyterLab serves."""
    source = Path(os.environ.get("SAMPLEVAE_BROWSER_NOTEBOOKS", REPO / "notebooks"))
    root = tmp_path_factory.mktemp("lab") / "notebooks"
    if source.is_dir():
        shutil.copytree(source, root, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    else:
        root.mkdir()
    return root


@pytest.fixture(scope="session")
def lab_server(browser_requirements, lab_root, tmp_path_factory):
    """A JupyterLab server on 127.0.0.1 (random port + token) serving ``lab_root``."""
    state = tmp_path_factory.mktemp("lab-state")
    server = lab.start_lab(lab_root, state, env=LAB_ENV, timeout=90)
    try:
        yield server
    finally:
        server.stop(timeout=20)


@pytest.fixture(scope="session")
def browser(browser_requirements):
    """Debian's Chromium, headless, launched through Playwright (sync API)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = lab.launch_chromium(playwright, executable_path=browser_requirements)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def screenshot_dir(tmp_path) -> Path:
    path = tmp_path / "screenshots"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture
def page(request, browser, lab_server, tmp_path, screenshot_dir):
    """A fresh page; kernels shut down, console log and failure screenshot kept on teardown."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(30_000)
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda msg: console.append(f"[{msg.type}] {msg.text}"))
    page.on("pageerror", lambda exc: console.append(f"[pageerror] {exc}"))
    try:
        yield page
    finally:
        failed = getattr(request.node, "rep_call", None)
        if failed is not None and failed.failed:
            try:
                lab.screenshot(page, screenshot_dir, "FAILED")
            except lab.PlaywrightError as exc:  # page may be dead; keep the real failure
                console.append(f"[fixture] failure screenshot failed: {exc}")
        (tmp_path / "browser-console.log").write_text("\n".join(console))
        context.close()
        try:
            lab_server.shutdown_kernels()
        except OSError as exc:
            print(f"could not shut kernels down: {exc}", file=sys.stderr)
