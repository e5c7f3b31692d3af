"""Real-browser helpers: a JupyterLab server and Playwright (sync API) page utilities.

The server side (:func:`start_lab`) runs ``python -m jupyterlab`` on 127.0.0.1 with a
random free port and a random token, in an isolated Jupyter config/data/runtime/settings
area so that nothing of the user's own Jupyter set-up leaks in (the lab extensions of
the venv -- ipywidgets, anywidget, plotly -- still load: they live in
``<venv>/share/jupyter/labextensions``, which is always on the search path).

The browser side drives Debian's Chromium (``/usr/bin/chromium``, see
``scripts/install_browser.sh``) through Playwright's ``executable_path``; Playwright's
own browser download is never used.

All waits are bounded; every timeout is in seconds.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:
    from playwright.sync_api import Error as PlaywrightError  # TimeoutError subclasses it
except ImportError:  # reported clearly by the browser_requirements fixture
    PlaywrightError = RuntimeError

logger = logging.getLogger(__name__)

DEFAULT_CHROMIUM = "/usr/bin/chromium"

#: Flags for Debian's Chromium: no sandbox (root in CI), software rendering, and no
#: background connections (the machines have no network beyond package registries).
CHROMIUM_ARGS: tuple[str, ...] = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
)

#: JupyterLab user settings written into the isolated settings dir.
#: - windowingMode "none": every cell is attached to the DOM, so DOM queries (audio
#:   elements, error outputs, prompts) see the whole notebook, not only the viewport.
#: - no news / update checks (no network) and no notification toast over the page.
LAB_USER_SETTINGS: dict[str, dict[str, Any]] = {
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
    "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
}

STDERR_MIME = "application/vnd.jupyter.stderr"
WIDGET_VIEW_MIME = "application/vnd.jupyter.widget-view+json"


# --------------------------------------------------------------------------- server


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class LabServer:
    """A running JupyterLab server started by :func:`start_lab`."""

    base_url: str  # "http://127.0.0.1:PORT/"
    token: str
    root_dir: Path
    state_dir: Path
    log_path: Path
    process: subprocess.Popen = field(repr=False)

    def url(self, path: str = "", **query: str) -> str:
        """Absolute URL of ``path`` (relative to the server root) with the token."""
        query = {**query, "token": self.token}
        return self.base_url + path.lstrip("/") + "?" + urllib.parse.urlencode(query)

    def notebook_url(self, path: str, workspace: str | None = None) -> str:
        """Lab URL that opens notebook ``path`` (relative to ``root_dir``).

        A fresh named workspace is used (unless ``workspace`` is given) so a page never
        restores tabs -- and so kernels -- of notebooks opened by an earlier test.
        """
        workspace = workspace or f"test-{uuid.uuid4().hex[:12]}"
        quoted = urllib.parse.quote(path.strip("/"))
        return self.url(f"lab/workspaces/{workspace}/tree/{quoted}")

    def api(self, path: str, method: str = "GET", timeout: float = 10.0) -> Any:
        """Call the REST API (``api/...``) with the token; return the decoded JSON or None."""
        request = urllib.request.Request(
            self.base_url + path.lstrip("/"),
            method=method,
            headers={"Authorization": f"token {self.token}"},
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            body = response.read()
        return json.loads(body) if body else None

    def log_tail(self, n_chars: int = 4000) -> str:
        """The end of the server log (stdout + stderr of the server and its kernels)."""
        try:
            return self.log_path.read_text(errors="replace")[-n_chars:]
        except OSError as exc:
            return f"<cannot read {self.log_path}: {exc}>"

    def shutdown_kernels(self, timeout: float = 10.0) -> int:
        """Delete every session (and so shut its kernel down); return how many."""
        sessions = self.api("api/sessions", timeout=timeout) or []
        for session in sessions:
            with contextlib.suppress(urllib.error.URLError, OSError):
                self.api(f"api/sessions/{session['id']}", method="DELETE", timeout=timeout)
        return len(sessions)

    def stop(self, timeout: float = 15.0) -> None:
        """Shut the server (and its kernels) down; SIGTERM, then SIGKILL on timeout."""
        stop_server(self.process, timeout=timeout, token=self.token, base_url=self.base_url)


def _descendants(pid: int) -> list[int]:
    """All descendant pids of ``pid`` (Linux /proc), children first."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...; comm may contain spaces/parentheses
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    result: list[int] = []
    stack = [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            result.append(child)
            stack.append(child)
    return result


def stop_server(
    process: subprocess.Popen,
    *,
    timeout: float = 15.0,
    token: str | None = None,
    base_url: str | None = None,
) -> None:
    """Stop a Jupyter server process with bounded waits.

    1. ``POST /api/shutdown`` (graceful: kernels are shut down too), wait up to ``timeout``;
    2. SIGTERM to the server, wait 5 s;
    3. SIGKILL to the server and every descendant (kernels run in their own sessions,
       so a process-group kill would miss them).
    """
    if process.poll() is not None:
        return
    kids = _descendants(process.pid)
    if token and base_url:
        request = urllib.request.Request(
            base_url + "api/shutdown",
            method="POST",
            headers={"Authorization": f"token {token}"},
        )
        with contextlib.suppress(urllib.error.URLError, OSError):
            urllib.request.urlopen(request, timeout=5).close()  # noqa: S310
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=timeout)
    if process.poll() is None:
        logger.warning("jupyter server %d did not stop in %.0f s: SIGTERM", process.pid, timeout)
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5)
    if process.poll() is None:
        logger.warning("jupyter server %d ignored SIGTERM: SIGKILL", process.pid)
        process.kill()
        process.wait(timeout=5)
    for pid in kids:  # kernels left behind by a forced stop
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def _write_lab_settings(settings_dir: Path, settings: dict[str, dict[str, Any]]) -> None:
    for plugin_id, values in settings.items():
        package, plugin = plugin_id.rsplit("/", 1)
        path = settings_dir / package / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values, indent=2))


def start_lab(
    root_dir: str | os.PathLike,
    state_dir: str | os.PathLike,
    *,
    env: dict[str, str] | None = None,
    python: str | None = None,
    timeout: float = 60.0,
    extra_args: list[str] | tuple[str, ...] = (),
    user_settings: dict[str, dict[str, Any]] | None = None,
) -> LabServer:
    """Start JupyterLab on 127.0.0.1 (random free port, random token) and wait until it answers.

    Parameters
    ----------
    root_dir : path
        Folder served (``--ServerApp.root_dir``); notebooks are opened relative to it.
        Pass a temporary copy: Lab writes to the notebooks it opens.
    state_dir : path
        Empty folder for the isolated Jupyter config/data/runtime/IPython dirs, Lab
        settings and workspaces, and ``jupyter-lab.log``.
    env : dict, optional
        Extra environment for the server and so its kernels (e.g. a smoke switch).
    python : str, optional
        Interpreter to run ``-m jupyterlab`` with (default: ``sys.executable``).
    timeout : float
        Seconds to wait for ``/api/status`` to answer.
    extra_args : sequence of str
        More command-line options for ``jupyter lab``.
    user_settings : dict, optional
        Lab user settings (plugin id -> values); default :data:`LAB_USER_SETTINGS`.

    Returns
    -------
    LabServer

    Raises
    ------
    RuntimeError
        The server exited or did not answer within ``timeout`` (the log tail is included).
    """
    root = Path(root_dir).resolve()
    state = Path(state_dir).resolve()
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: Lab root dir does not exist")
    dirs = {
        name: state / name
        for name in ("config", "data", "runtime", "ipython", "lab-settings", "lab-workspaces")
    }
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True)
    _write_lab_settings(
        dirs["lab-settings"], LAB_USER_SETTINGS if user_settings is None else user_settings
    )

    full_env = dict(os.environ)
    full_env.update(
        JUPYTER_CONFIG_DIR=str(dirs["config"]),
        JUPYTER_DATA_DIR=str(dirs["data"]),
        JUPYTER_RUNTIME_DIR=str(dirs["runtime"]),
        IPYTHONDIR=str(dirs["ipython"]),
        JUPYTERLAB_SETTINGS_DIR=str(dirs["lab-settings"]),
        JUPYTERLAB_WORKSPACES_DIR=str(dirs["lab-workspaces"]),
        JUPYTER_PLATFORM_DIRS="0",
        PYTHONUNBUFFERED="1",
    )
    full_env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    full_env.pop("JUPYTER_TOKEN", None)
    full_env.update(env or {})

    log_path = state / "jupyter-lab.log"
    token = secrets.token_hex(24)
    last_error = ""
    for attempt in range(3):  # a free port can be taken between free_port() and bind
        port = free_port()
        base_url = f"http://127.0.0.1:{port}/"
        cmd = [
            python or sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0",
            f"--ServerApp.root_dir={root}",
            f"--IdentityProvider.token={token}",
            "--ServerApp.password=",
            "--ServerApp.terminals_enabled=False",
            "--ServerApp.open_browser=False",
            "--LabApp.expose_app_in_browser=True",  # window.jupyterapp for the helpers
            "--LabApp.news_url=",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.extension_manager=readonly",  # no PyPI queries from the Lab UI
            "--LanguageServerManager.autodetect=False",
            *(["--allow-root"] if os.geteuid() == 0 else []),  # root in CI containers
            *extra_args,
        ]
        with open(log_path, "ab") as log:
            log.write(f"\n=== attempt {attempt + 1}: {' '.join(cmd)}\n".encode())
            log.flush()
            process = subprocess.Popen(
                cmd,
                cwd=root,
                env=full_env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        server = LabServer(base_url, token, root, state, log_path, process)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                last_error = f"exited with code {process.returncode}"
                break
            try:
                status = server.api("api/status", timeout=2)
            except (urllib.error.URLError, OSError, ValueError):
                time.sleep(0.2)
                continue
            logger.info("JupyterLab up at %s (%s)", base_url, status)
            return server
        else:
            stop_server(process, timeout=5, token=token, base_url=base_url)
            raise RuntimeError(
                f"JupyterLab did not answer on {base_url} within {timeout:.0f} s; "
                f"log {log_path}:\n{server.log_tail()}"
            )
        text = server.log_tail()
        if "already in use" not in text and "Address already" not in text:
            break
    raise RuntimeError(f"JupyterLab {last_error}; log {log_path}:\n{text}")


# -------------------------------------------------------------------------- browser


def chromium_path() -> Path:
    """The Chromium binary: env ``SAMPLEVAE_CHROMIUM`` or ``/usr/bin/chromium``."""
    return Path(os.environ.get("SAMPLEVAE_CHROMIUM", DEFAULT_CHROMIUM))


def launch_chromium(
    playwright,
    *,
    executable_path: str | os.PathLike | None = None,
    headless: bool = True,
    extra_args: tuple[str, ...] = (),
    timeout: float = 60.0,
):
    """Launch Debian's Chromium through Playwright (never Playwright's own browser build)."""
    path = Path(executable_path) if executable_path else chromium_path()
    return playwright.chromium.launch(
        executable_path=str(path),
        headless=headless,
        args=[*CHROMIUM_ARGS, *extra_args],
        timeout=timeout * 1000,
    )


# JS: find the NotebookPanel for `path` (or the current / last notebook).
_FIND_PANEL_JS = r"""
const findPanel = (path) => {
  const app = window.jupyterapp;
  if (!app || !app.shell) { return null; }  // not loaded yet
  const panels = Array.from(app.shell.widgets('main')).filter(
    w => w.content && w.context && w.sessionContext && w.content.widgets !== undefined);
  if (path) { return panels.find(w => w.context.path === path) || null; }
  if (panels.includes(app.shell.currentWidget)) { return app.shell.currentWidget; }
  return panels.length ? panels[panels.length - 1] : null;
};
const stripAnsi = (s) => String(s).replace(/\u001b\[[0-9;]*[A-Za-z]/g, '');
const panelState = (panel) => {
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  const cells = panel.content.widgets;
  let nCode = 0, nExecuted = 0, running = [], errors = [];
  cells.forEach((cell, index) => {
    if (cell.model.type !== 'code') { return; }
    const prompt = cell.node.querySelector('.jp-InputPrompt');
    const promptText = prompt ? prompt.textContent : '';
    if (promptText.includes('*')) { running.push(index); }
    if (cell.model.sharedModel.getSource().trim()) {
      nCode += 1;
      if (cell.model.executionCount !== null) { nExecuted += 1; }
    }
    const outputs = cell.model.outputs.toJSON();
    outputs.forEach(o => {
      if (o.output_type === 'error') {
        errors.push({cell: index, source: 'error output', ename: o.ename, evalue: o.evalue,
                     text: stripAnsi((o.traceback || []).join('\n'))});
      }
    });
    // Tracebacks printed into ipywidgets Output widgets (e.g. from callbacks).
    cell.node.querySelectorAll('.widget-output .jp-RenderedText[data-mime-type="application/vnd.jupyter.stderr"]')
      .forEach(el => {
        const text = el.textContent || '';
        if (/Traceback|Error:|Exception/.test(text)) {
          const last = text.trim().split('\n').reverse().find(l => /^[A-Za-z_][\w.]*: /.test(l)) || '';
          const colon = last.indexOf(': ');
          errors.push({cell: index, source: 'widget output', ename: colon > 0 ? last.slice(0, colon) : '',
                       evalue: colon > 0 ? last.slice(colon + 2) : '', text});
        }
      });
  });
  return {path: panel.context.path, id: panel.id, ready: panel.sessionContext.isReady,
          kernel: kernel ? kernel.status : null, nCells: cells.length, nCode, nExecuted,
          running, errors, runAll: window.__svRunAll || null};
};
"""


@dataclass(frozen=True)
class CellError:
    """An error shown in a notebook: an ``error`` output or a traceback in a widget Output."""

    cell: int
    source: str
    ename: str
    evalue: str
    text: str

    def __str__(self) -> str:
        return f"cell {self.cell} ({self.source}): {self.ename} {self.evalue}\n{self.text}"


@dataclass(frozen=True)
class RunResult:
    """Outcome of :func:`run_all_cells`."""

    path: str
    ok: bool
    n_code_cells: int
    n_executed: int
    seconds: float
    errors: tuple[CellError, ...]


def notebook_state(page, path: str | None = None) -> dict[str, Any]:
    """Raw state of the notebook ``path`` (default: current): kernel status, counts, errors."""
    state = page.evaluate(
        "(path) => {"
        + _FIND_PANEL_JS
        + """
          if (!window.jupyterapp) {
            throw new Error('window.jupyterapp is missing (LabApp.expose_app_in_browser)');
          }
          const panel = findPanel(path);
          return panel ? panelState(panel) : null; }""",
        path,
    )
    if state is None:
        raise LookupError(f"no open notebook {path or '(current)'} in JupyterLab")
    return state


def _panel_predicate(condition: str) -> str:
    """JS predicate for ``page.wait_for_function`` over the panel state ``s``."""
    return (
        "(path) => {"
        + _FIND_PANEL_JS
        + """
          const panel = findPanel(path);
          if (!panel) { return false; }
          const s = panelState(panel);
          return ("""
        + condition
        + "); }"
    )


def wait_for_kernel_idle(page, path: str | None = None, timeout: float = 60.0) -> None:
    """Wait until the notebook's kernel is connected and idle."""
    try:
        page.wait_for_function(
            _panel_predicate("s.ready && s.kernel === 'idle'"),
            arg=path,
            timeout=timeout * 1000,
            polling=200,
        )
    except PlaywrightError as exc:
        raise TimeoutError(
            f"kernel of {path or 'the current notebook'} not idle within {timeout:.0f} s: "
            f"{_safe_state(page, path)}"
        ) from exc


def _safe_state(page, path):
    try:
        state = notebook_state(page, path)
        state.pop("errors", None)
        return state
    except (PlaywrightError, LookupError) as exc:  # only for error messages
        return f"<state unavailable: {exc}>"


def open_notebook(page, server: LabServer, path: str, *, timeout: float = 90.0):
    """Open notebook ``path`` (relative to the server root) in Lab; wait for an idle kernel.

    Returns the Playwright ``Locator`` of the notebook panel (scope further queries to it).
    """
    if not (server.root_dir / path).is_file():
        raise FileNotFoundError(f"{server.root_dir / path}: notebook does not exist")
    deadline = time.monotonic() + timeout
    page.goto(server.notebook_url(path), timeout=timeout * 1000, wait_until="domcontentloaded")
    try:
        page.wait_for_function(
            _panel_predicate("s.path === path"),
            arg=path,
            timeout=max(1.0, deadline - time.monotonic()) * 1000,
            polling=200,
        )
    except PlaywrightError as exc:
        dialogs = page.locator(".jp-Dialog").all_inner_texts()
        raise TimeoutError(
            f"JupyterLab did not open {path} within {timeout:.0f} s (page {page.url}; "
            f"dialogs {dialogs}); server log:\n{server.log_tail(2000)}"
        ) from exc
    wait_for_kernel_idle(page, path, timeout=max(1.0, deadline - time.monotonic()))
    panel_id = notebook_state(page, path)["id"]
    return page.locator(f"#{panel_id}")


def run_all_cells(
    page, path: str | None = None, *, timeout: float = 120.0, raise_on_error: bool = True
) -> RunResult:
    """Run all cells of the notebook (Lab command ``notebook:run-all-cells``) and wait.

    Waits (up to ``timeout``) until the command has finished, the kernel is idle and no
    prompt shows ``[*]``. With ``raise_on_error`` an ``AssertionError`` lists every error
    output / widget traceback, or non-empty code cells left without an execution count.
    """
    start = time.monotonic()
    wait_for_kernel_idle(page, path, timeout=timeout)
    page.evaluate(
        "(path) => {"
        + _FIND_PANEL_JS
        + """
          const panel = findPanel(path);
          if (!panel) { throw new Error('no notebook ' + path); }
          const app = window.jupyterapp;
          app.shell.activateById(panel.id);
          window.__svRunAll = {done: false, ok: null, error: null};
          app.commands.execute('notebook:run-all-cells')
            .then(ok => { window.__svRunAll = {done: true, ok: ok !== false, error: null}; })
            .catch(e => { window.__svRunAll = {done: true, ok: false, error: String(e)}; });
        }""",
        path,
    )
    remaining = max(1.0, timeout - (time.monotonic() - start))
    try:
        page.wait_for_function(
            _panel_predicate(
                "s.runAll && s.runAll.done && s.kernel === 'idle' && s.running.length === 0"
            ),
            arg=path,
            timeout=remaining * 1000,
            polling=250,
        )
    except PlaywrightError as exc:
        state = _safe_state(page, path)
        raise TimeoutError(
            f"run all cells of {path or 'the current notebook'} not finished within "
            f"{timeout:.0f} s: {state}"
        ) from exc
    state = notebook_state(page, path)
    errors = tuple(CellError(**e) for e in state["errors"])
    result = RunResult(
        path=state["path"],
        ok=bool(state["runAll"]["ok"]) and not errors and state["nExecuted"] == state["nCode"],
        n_code_cells=state["nCode"],
        n_executed=state["nExecuted"],
        seconds=time.monotonic() - start,
        errors=errors,
    )
    if raise_on_error and not result.ok:
        detail = "\n\n".join(str(e) for e in errors) or (
            f"{state['nExecuted']} of {state['nCode']} code cells executed; "
            f"command error: {state['runAll']['error']}"
        )
        raise AssertionError(f"run all cells of {result.path} failed:\n{detail}")
    return result


def error_outputs(page, path: str | None = None) -> list[CellError]:
    """Errors in the notebook: ``error`` outputs and tracebacks inside widget Outputs."""
    return [CellError(**e) for e in notebook_state(page, path)["errors"]]


def stderr_outputs(scope) -> list[str]:
    """Text of every stderr output (warnings too) under ``scope`` (a Page or Locator)."""
    return scope.locator(f'.jp-RenderedText[data-mime-type="{STDERR_MIME}"]').all_inner_texts()


def assert_no_errors(page, path: str | None = None) -> None:
    """Raise ``AssertionError`` listing every error output / widget traceback."""
    errors = error_outputs(page, path)
    if errors:
        raise AssertionError("errors in the notebook:\n\n" + "\n\n".join(map(str, errors)))


def cell(scope, index: int):
    """Locator of the ``index``-th cell (0-based, markdown cells count) under ``scope``."""
    return scope.locator(".jp-Notebook .jp-Cell").nth(index)


#: Widget outputs: ipywidgets' WidgetRenderer is a Lumino Panel used as the output node
#: (no data-mime-type attribute, unlike the text/HTML/image renderers).
WIDGET_VIEW_SELECTOR = f'.jp-OutputArea-output:is([data-mime-type="{WIDGET_VIEW_MIME}"], .lm-Panel)'


def widget_views(scope):
    """Locator of every widget output (ipywidgets / anywidget views) under ``scope``."""
    return scope.locator(WIDGET_VIEW_SELECTOR)


def find_in_widgets(scope, selector: str):
    """Locator of ``selector`` inside widget outputs under ``scope`` (Page or Locator)."""
    return widget_views(scope).locator(selector)


def wait_for_widgets(scope, count: int = 1, timeout: float = 30.0) -> None:
    """Wait until ``count`` widget views are rendered (not 'Loading widget...' / errors)."""
    views = widget_views(scope)
    deadline = time.monotonic() + timeout
    while True:
        texts = views.all_inner_texts()
        broken = [t for t in texts if "Error displaying widget" in t or "Error rendering" in t]
        if broken:
            raise AssertionError(f"widget view failed to render: {broken[0][:500]}")
        rendered = views.evaluate_all(
            "els => els.filter(el => el.firstElementChild && "
            "!(el.textContent || '').startsWith('Loading widget')).length"
        )
        if rendered >= count:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"{rendered} of {count} widget views rendered within {timeout:.0f} s "
                f"({len(texts)} widget outputs; texts {[t[:80] for t in texts]})"
            )
        time.sleep(0.2)


def screenshot(page, out_dir: str | os.PathLike, name: str, locator=None) -> Path:
    """Save a PNG of the page (or of ``locator``) as ``out_dir/name.png``; return its path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "screenshot"
    path = out / f"{safe}.png"
    if locator is not None:
        locator.screenshot(path=str(path), timeout=15_000)
    else:
        page.screenshot(path=str(path), timeout=15_000)
    return path


# ---------------------------------------------------------------------------- audio


@dataclass(frozen=True)
class AudioSource:
    """What the browser makes of one ``<audio>`` element (see :func:`audio_sources`)."""

    src: str  # element's currentSrc/src (blob:, data: or http URL)
    mime: str  # blob / response content type ('' if unknown)
    can_play: str  # el.canPlayType(mime): '', 'maybe' or 'probably'
    ready_state: int  # HTMLMediaElement.readyState after loading metadata
    duration: float | None  # element duration in seconds
    media_error: str | None  # el.error (MediaError code/message) if any
    n_bytes: int | None  # size of the fetched source
    decoded_duration: float | None  # WebAudio decodeAudioData duration in seconds
    decode_error: str | None
    wav_sample_rate: int | None  # from the RIFF header (None if not a wav)
    wav_channels: int | None
    played: bool | None  # muted el.play() advanced currentTime (None: not tried)
    visible: bool

    @property
    def playable(self) -> bool:
        """The browser can load and decode this source to a non-empty sound."""
        return (
            bool(self.src)
            and self.media_error is None
            and self.can_play in ("maybe", "probably")
            and self.ready_state >= 1
            and bool(self.duration and self.duration > 0)
            and bool(self.decoded_duration and self.decoded_duration > 0)
            and self.played is not False
        )


_AUDIO_JS = r"""
async (els, opts) => {
  const withTimeout = (p, ms, what) => Promise.race([
    p, new Promise((_, rej) => setTimeout(() => rej(new Error(what + ' timed out')), ms))]);
  const waitEvent = (el, events, ms) => new Promise(res => {
    const t = setTimeout(() => res('timeout'), ms);
    events.forEach(ev => el.addEventListener(ev, () => { clearTimeout(t); res(ev); }, {once: true}));
  });
  const wavInfo = (buf) => {
    const v = new DataView(buf);
    const tag = (o) => String.fromCharCode(v.getUint8(o), v.getUint8(o+1), v.getUint8(o+2), v.getUint8(o+3));
    if (buf.byteLength < 12 || tag(0) !== 'RIFF' || tag(8) !== 'WAVE') { return null; }
    let o = 12;
    while (o + 8 <= buf.byteLength) {
      const id = tag(o), size = v.getUint32(o + 4, true);
      if (id === 'fmt ' && o + 16 <= buf.byteLength) {
        return {channels: v.getUint16(o + 10, true), rate: v.getUint32(o + 12, true)};
      }
      o += 8 + size + (size % 2);
    }
    return null;
  };
  const ms = opts.timeoutMs;
  const results = [];
  for (const el of els) {
    const r = {src: el.currentSrc || el.src || '', mime: '', can_play: '', ready_state: el.readyState,
               duration: null, media_error: null, n_bytes: null, decoded_duration: null,
               decode_error: null, wav_sample_rate: null, wav_channels: null, played: null,
               visible: !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length)};
    if (r.src) {
      if (el.readyState < 1 && !el.error) {
        const ev = waitEvent(el, ['loadedmetadata', 'error'], ms);
        if (el.networkState === HTMLMediaElement.NETWORK_EMPTY || el.preload === 'none') { el.load(); }
        await ev;
        if (el.readyState < 1 && !el.error) {  // still nothing: force a (re)load once
          const ev2 = waitEvent(el, ['loadedmetadata', 'error'], ms);
          el.load();
          await ev2;
        }
      }
      try {
        const resp = await withTimeout(fetch(r.src), ms, 'fetch');
        const blob = await withTimeout(resp.blob(), ms, 'read');
        r.mime = blob.type || resp.headers.get('content-type') || '';
        const buf = await blob.arrayBuffer();
        r.n_bytes = buf.byteLength;
        const info = wavInfo(buf);
        if (info) { r.wav_sample_rate = info.rate; r.wav_channels = info.channels; }
        const ctx = new OfflineAudioContext(1, 1, 44100);
        const decoded = await withTimeout(ctx.decodeAudioData(buf.slice(0)), ms, 'decodeAudioData');
        r.decoded_duration = decoded.duration;
      } catch (e) {
        r.decode_error = String(e && e.message || e);
      }
      if (opts.tryPlay && !el.error && el.readyState >= 1) {
        const wasMuted = el.muted;
        try {
          el.muted = true;
          el.currentTime = 0;
          await withTimeout(el.play(), ms, 'play');
          const t0 = performance.now();
          while (el.currentTime === 0 && !el.ended && performance.now() - t0 < ms) {
            await new Promise(res => setTimeout(res, 20));
          }
          r.played = el.currentTime > 0 || el.ended;
        } catch (e) {
          r.played = false;
          r.decode_error = r.decode_error || ('play: ' + String(e && e.message || e));
        } finally {
          el.pause(); el.currentTime = 0; el.muted = wasMuted;
        }
      }
    }
    r.ready_state = el.readyState;
    r.duration = Number.isFinite(el.duration) ? el.duration : null;
    r.media_error = el.error ? ('MediaError ' + el.error.code + ': ' + (el.error.message || '')) : null;
    r.can_play = el.canPlayType(r.mime || 'audio/wav');
    results.push(r);
  }
  return results;
}
"""


def audio_sources(scope, *, try_play: bool = False, timeout: float = 10.0) -> list[AudioSource]:
    """Every ``<audio>`` element under ``scope`` (Page or Locator) and whether it is playable.

    For each element: waits (bounded) for its metadata, fetches its ``src`` (blob:/data:/
    http) and decodes it with WebAudio ``decodeAudioData``; reads sample rate/channels from
    a WAV header. With ``try_play`` it also plays it muted and checks that time advances.
    """
    return [
        AudioSource(**r)
        for r in scope.locator("audio").evaluate_all(
            _AUDIO_JS, {"timeoutMs": int(timeout * 1000), "tryPlay": try_play}
        )
    ]


def wait_for_audio(
    scope, count: int = 1, *, timeout: float = 30.0, try_play: bool = False
) -> list[AudioSource]:
    """Wait until ``count`` ``<audio>`` elements with a ``src`` exist; return their sources."""
    audio = scope.locator("audio")
    deadline = time.monotonic() + timeout
    while True:
        n = audio.evaluate_all("els => els.filter(el => el.currentSrc || el.src).length")
        if n >= count:
            return audio_sources(scope, try_play=try_play)
        if time.monotonic() > deadline:
            raise TimeoutError(f"{n} of {count} <audio> elements with a src within {timeout:.0f} s")
        time.sleep(0.2)


# --------------------------------------------------------------------------- plotly


_PLOTLY_POINT_JS = r"""
(el, opts) => {
  const gd = el.classList.contains('js-plotly-plot') ? el : el.querySelector('.js-plotly-plot');
  if (!gd) { return {error: 'no .js-plotly-plot graph div inside the locator'}; }
  const fl = gd._fullLayout;
  if (!fl || !gd._fullData) { return {error: 'plotly graph div is not plotted yet'}; }
  const tr = gd._fullData.find(t => t.index === opts.trace);
  if (!tr) { return {error: 'no trace ' + opts.trace + ' (' + gd._fullData.length + ' traces)'}; }
  if (tr.visible !== true) { return {error: 'trace ' + opts.trace + ' is not visible'}; }
  if (fl.hovermode === false) { return {error: 'layout.hovermode is false: plotly emits no clicks'}; }
  const n = Math.max(tr.x ? tr.x.length : 0, tr.y ? tr.y.length : 0);
  if (opts.point < 0 || opts.point >= n) { return {error: 'point ' + opts.point + ' out of range (' + n + ' points)'}; }
  const xa = fl['xaxis' + (tr.xaxis || 'x').slice(1)];
  const ya = fl['yaxis' + (tr.yaxis || 'y').slice(1)];
  if (!xa || !ya) { return {error: 'trace has no cartesian axes (type ' + tr.type + ')'}; }
  const xv = tr.x ? tr.x[opts.point] : (tr.x0 || 0) + (tr.dx === undefined ? 1 : tr.dx) * opts.point;
  const yv = tr.y ? tr.y[opts.point] : (tr.y0 || 0) + (tr.dy === undefined ? 1 : tr.dy) * opts.point;
  const toPx = (ax, v) => (ax.d2p ? ax.d2p(v) : ax.l2p(ax.d2l(v)));
  const px = toPx(xa, xv), py = toPx(ya, yv);
  if (!(px >= 0 && px <= xa._length && py >= 0 && py <= ya._length)) {
    return {error: 'point ' + opts.point + ' (' + xv + ', ' + yv + ') is outside the visible axis ranges'};
  }
  if (opts.scroll) { gd.scrollIntoView({block: 'center', inline: 'center'}); }
  const rect = gd.getBoundingClientRect();
  const cx = rect.left + xa._offset + px, cy = rect.top + ya._offset + py;
  const hit = document.elementFromPoint(cx, cy);
  return {x: xv, y: yv, clientX: cx, clientY: cy, type: tr.type,
          hitInside: !!(hit && gd.contains(hit)), hit: hit ? hit.className.baseVal || hit.className : null};
}
"""

_PLOTLY_HOVER_JS = r"""
([gd, trace, point]) => {
  const d = gd._hoverdata;
  return !!(d && d.length && d.some(p => p.curveNumber === trace && p.pointNumber === point));
}
"""

# (Re)install a plotly_click recorder on the graph div and clear what it recorded.
_PLOTLY_ARM_JS = r"""
gd => {
  if (gd.__svClickHandler) { gd.removeListener('plotly_click', gd.__svClickHandler); }
  gd.__svClicks = [];
  gd.__svClickHandler = (d) => gd.__svClicks.push(
    (d.points || []).map(p => [p.curveNumber, p.pointNumber]));
  gd.on('plotly_click', gd.__svClickHandler);
  return gd._context.doubleClickDelay || 300;
}
"""

#: Plotly throttles hover computations (constants.HOVERMINTIME = 50 ms).
_PLOTLY_HOVER_SETTLE_S = 0.15


def click_plotly_point(
    page, graph_locator, trace_index: int, point_index: int, *, timeout: float = 15.0
) -> dict[str, Any]:
    """Click point ``point_index`` of trace ``trace_index`` in a plotly graph, like a user.

    Works for SVG ``scatter`` and WebGL ``scattergl`` alike (scattergl draws no SVG
    points): the pixel position is computed from the graph div's axes
    (``_fullLayout.xaxis.d2p`` + axis offsets, any axis type) and real mouse events are
    sent there: move (plotly hover), wait until plotly's hover data holds exactly that
    point and its hover throttle has settled, then mouse down/up. The click is confirmed
    by a ``plotly_click`` listener on the graph div; an unconfirmed click is retried after
    plotly's double-click delay (so two attempts never make a double click).

    Parameters
    ----------
    page : playwright Page
    graph_locator : playwright Locator
        The ``.js-plotly-plot`` div or any element containing one (e.g. the widget view).
    trace_index, point_index : int
        Index into ``figure.data`` and into that trace's points.
    timeout : float
        Seconds for the whole operation.

    Returns
    -------
    dict
        ``x``, ``y`` (data values), ``clientX``, ``clientY`` (pixels) of the click and
        ``attempts``.

    Raises
    ------
    ValueError
        No such trace/point, point outside the axis ranges, hover disabled, the point
        covered, or plotly picks another point there (overlapping points).
    TimeoutError
        No ``plotly_click`` was emitted within ``timeout``.
    """
    graph = graph_locator.first
    graph.wait_for(state="visible", timeout=timeout * 1000)
    gd = graph.evaluate_handle(
        "el => el.classList.contains('js-plotly-plot') ? el : el.querySelector('.js-plotly-plot')"
    )
    target = [trace_index, point_index]
    opts = {"trace": trace_index, "point": point_index, "scroll": True}
    deadline = time.monotonic() + timeout
    attempt = 0
    hovered = False
    info: dict[str, Any] = {}
    while time.monotonic() < deadline:
        # Recompute the position on each attempt: the graph may still be re-laid out
        # (autosize, scrolling of the notebook) right after it rendered.
        attempt += 1
        info = graph.evaluate(_PLOTLY_POINT_JS, opts)
        if info.get("error"):
            raise ValueError(f"cannot click plotly point: {info['error']}")
        cx, cy = info["clientX"], info["clientY"]
        if not info["hitInside"]:
            page.wait_for_timeout(200)
            continue
        page.mouse.move(cx - 12, cy - 12)
        page.mouse.move(cx, cy)
        try:
            wait = min(2.0, max(0.1, deadline - time.monotonic()))
            page.wait_for_function(
                _PLOTLY_HOVER_JS, arg=[gd, *target], timeout=wait * 1000, polling=50
            )
            # A throttled hover still pending when the button goes down runs while plotly
            # is "dragging" and clears the hover data, and the click is lost: let it settle.
            page.wait_for_timeout(_PLOTLY_HOVER_SETTLE_S * 1000)
            if not page.evaluate(_PLOTLY_HOVER_JS, [gd, *target]):
                continue
        except PlaywrightError:
            continue
        hovered = True
        double_click_ms = gd.evaluate(_PLOTLY_ARM_JS)
        page.mouse.down()
        page.mouse.up()
        try:
            wait = min(2.0, max(0.1, deadline - time.monotonic()))
            page.wait_for_function(
                "gd => gd.__svClicks.length > 0", arg=gd, timeout=wait * 1000, polling=50
            )
        except PlaywrightError:
            logger.info("plotly click on point %s not registered (attempt %d)", target, attempt)
            page.wait_for_timeout(double_click_ms + 100)  # never turn a retry into a dblclick
            continue
        clicks = gd.evaluate("gd => gd.__svClicks")
        if target not in clicks[0]:
            raise ValueError(f"plotly clicked points {clicks[0]}, not {target}")
        return {**{k: info[k] for k in ("x", "y", "clientX", "clientY")}, "attempts": attempt}
    if not hovered:
        picked = gd.evaluate("gd => (gd._hoverdata || []).map(p => [p.curveNumber, p.pointNumber])")
        raise ValueError(
            f"after {attempt} attempts in {timeout:.0f} s, hovering at "
            f"({info.get('clientX', 0):.0f}, {info.get('clientY', 0):.0f}) picks points {picked}, "
            f"not {target} (element there: {info.get('hit')}; overlapping points, a covered "
            "graph or hover disabled)"
        )
    raise TimeoutError(f"plotly emitted no click for point {target} in {attempt} attempts")
