"""One way to run a per-file function on every core: :func:`parallel_map`.

Feature extraction and the library build both go through it, so the rules live here once:

* **Start method.** Worker processes are forked while TensorFlow is not loaded (fast, and a
  script needs no ``if __name__ == "__main__":``); once it is loaded they are spawned,
  because forking TensorFlow's thread pools can deadlock.
* **The main-module guard.** A spawned worker imports the user's script again. A script
  that calls us at import time (no ``if __name__ == "__main__":``) would start the work
  again in every worker; we detect that before starting any process and raise
  :class:`MainGuardError` saying what to add, instead of a cascade of ``BrokenProcessPool``.
* **Interruption.** Workers ignore SIGINT; on Ctrl-C (or any error) the pool is shut down
  cleanly (pending chunks cancelled), and every result already yielded stays with the
  caller, which saves it.
* Work goes out in chunks with a bounded number in flight, so memory stays bounded, and a
  ``tqdm.auto`` bar counts items.
"""

from __future__ import annotations

import ast
import multiprocessing as mp
import os
import signal
import sys
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from samplevae.errors import SampleVAEError

__all__ = ["parallel_map", "start_method", "MainGuardError", "WorkerError"]


class MainGuardError(SampleVAEError, RuntimeError):
    """Worker processes would re-run the calling script: it needs a ``__main__`` guard."""


class WorkerError(SampleVAEError):
    """A worker process died (killed, out of memory, ...)."""


def start_method() -> str:
    """``"fork"`` while TensorFlow is not loaded, else ``"spawn"`` (see the module docstring)."""
    if sys.platform == "win32" or "tensorflow" in sys.modules:
        return "spawn"
    return "fork"


def _is_main_test(test: ast.expr) -> bool:
    """``__name__ == "__main__"`` (either way round)."""
    if not (
        isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq)
    ):
        return False
    sides = [test.left, test.comparators[0]]
    return any(isinstance(s, ast.Name) and s.id == "__name__" for s in sides) and any(
        isinstance(s, ast.Constant) and s.value == "__main__" for s in sides
    )


def _guarded(body: list[ast.stmt], line: int) -> bool:
    """Whether ``line`` lies inside an ``if __name__ == "__main__":`` block of ``body``."""
    for node in body:
        if not node.lineno <= line <= (node.end_lineno or node.lineno):
            continue
        if isinstance(node, ast.If) and _is_main_test(node.test):
            return True
        children: list[ast.stmt] = []
        for name in ("body", "orelse", "finalbody"):
            children += getattr(node, name, None) or []
        for handler in getattr(node, "handlers", None) or []:
            children += handler.body
        return _guarded(children, line)
    return False


def _unguarded_main_call() -> tuple[str, int] | None:
    """(script, line) when we are called from a script's top-level code outside a
    ``__main__`` guard: code that spawned workers would run again when importing it."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if not path or not str(path).endswith(".py"):
        return None
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "<module>" and frame.f_globals.get("__name__") == "__main__":
            break
        frame = frame.f_back
    if frame is None:
        return None
    try:
        tree = ast.parse(Path(path).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError, UnicodeDecodeError):
        return None
    line = frame.f_lineno
    return None if _guarded(tree.body, line) else (str(path), line)


def _in_spawned_import() -> bool:
    """True inside a worker that is importing the parent's script (as ``__mp_main__``)."""
    if mp.parent_process() is None:
        return False
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_globals.get("__name__") == "__mp_main__":
            return True
        frame = frame.f_back
    return False


def _guard_message(where: str) -> str:
    return (
        f"{where} starts worker processes, and each one imports your script again "
        "(start method 'spawn', used once TensorFlow is loaded), which would run this "
        "call again in every worker. Put the script's top-level code under "
        "`if __name__ == \"__main__\":` (see 'Safe importing of main module' in the "
        "multiprocessing docs), or pass workers=1."
    )


def _worker_init(initializer: Callable[..., Any] | None, initargs: tuple) -> None:
    # Ctrl-C reaches the whole process group: the parent shuts the pool down, workers must
    # not die mid-item with a traceback each.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if initializer is not None:
        initializer(*initargs)


def _run_chunk(fn: Callable[[Any], Any], chunk: list, batched: bool) -> list:
    return list(fn(chunk)) if batched else [fn(x) for x in chunk]


def parallel_map(
    fn: Callable[[Any], Any],
    items: Sequence[Any],
    *,
    workers: int | None = None,
    ordered: bool = False,
    chunksize: int | None = None,
    in_flight: int | None = None,
    serial_below: int = 8,
    progress: bool = True,
    desc: str | None = None,
    unit: str = "file",
    initial: int = 0,
    initializer: Callable[..., Any] | None = None,
    initargs: tuple = (),
    batched: bool = False,
) -> Iterator[tuple[int, Any]]:
    """``(index, fn(items[index]))`` for every item, computed on ``workers`` processes.

    Parameters
    ----------
    fn : a module-level function (it is pickled by reference to the workers)
    workers : processes (default every core); 1, or fewer than ``serial_below`` items,
        computes in this process
    ordered : yield in input order (else as chunks complete)
    chunksize : items per task (default: a few tasks per worker, at most 32 items)
    in_flight : tasks submitted ahead (default 4 per worker): results not yet taken by the
        caller, so it bounds memory, and work the workers have queued while the caller is
        busy with the results it got
    progress, desc, unit : the tqdm bar; ``initial`` items already done count in its total
    initializer, initargs : ``initializer(*initargs)`` once in each worker process (never in
        this one: a serial run calls only ``fn``)
    batched : ``fn`` takes a list of items (a task's chunk; one item when serial) and gives
        their results in order

    Raises
    ------
    MainGuardError
        Workers would have to be spawned from a script's unguarded top-level code.
    WorkerError
        A worker process died; results yielded before stay valid.
    """
    from tqdm.auto import tqdm

    items = list(items)
    n = len(items)
    workers = max(1, min(workers or os.cpu_count() or 1, n or 1))
    bar = tqdm(
        total=initial + n, initial=initial, desc=desc, unit=unit, disable=not progress or n == 0
    )
    try:
        if workers <= 1 or n < serial_below:
            for i, x in enumerate(items):
                yield i, fn([x])[0] if batched else fn(x)
                bar.update(1)
            return
        yield from _pool_map(
            fn,
            items,
            workers,
            ordered,
            chunksize,
            in_flight,
            bar,
            desc or "parallel work",
            (initializer, tuple(initargs)),
            batched,
        )
    finally:
        bar.close()


def _pool_map(
    fn, items, workers, ordered, chunksize, in_flight, bar, what, init, batched
) -> Iterator[tuple[int, Any]]:
    method = start_method()
    if method != "fork":
        if _in_spawned_import():
            raise MainGuardError(_guard_message(what))
        where = _unguarded_main_call()
        if where is not None:
            raise MainGuardError(f"{where[0]}, line {where[1]}: " + _guard_message(what))
    n = len(items)
    size = chunksize or max(1, min(32, n // (4 * workers)))
    chunks = [(start, items[start : start + size]) for start in range(0, n, size)]
    max_in_flight = max(workers, in_flight or 4 * workers)
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=mp.get_context(method),
        initializer=_worker_init,
        initargs=init,
    )
    pending: deque[tuple[int, Future]] = deque()
    starts: dict[Future, int] = {}
    next_chunk = 0
    try:
        while next_chunk < len(chunks) or pending:
            while next_chunk < len(chunks) and len(pending) < max_in_flight:
                start, chunk = chunks[next_chunk]
                fut = pool.submit(_run_chunk, fn, chunk, batched)
                pending.append((start, fut))
                starts[fut] = start
                next_chunk += 1
            if ordered:
                start, fut = pending.popleft()
                done = [fut]
            else:
                done_set, _ = wait([f for _, f in pending], return_when=FIRST_COMPLETED)
                done = [f for _, f in pending if f in done_set]
                pending = deque((s, f) for s, f in pending if f not in done_set)
            for fut in done:
                start = starts.pop(fut)
                for j, result in enumerate(fut.result()):
                    yield start + j, result
                    bar.update(1)
    except BrokenProcessPool as e:
        raise WorkerError(
            f"{what}: a worker process died (killed, or out of memory?); "
            "what was done before is kept, run it again to finish"
        ) from e
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
