"""The progress bar of ``progress=True``: epoch of ``max_iter``, loss, elapsed and time left.

The estimators update it once per epoch (once per L-BFGS iteration) from
Python. Nothing is drawn until a fit has run for :data:`DELAY` seconds, so
short fits stay silent. The bar is tqdm's (``tqdm.auto``, so a notebook gets
its widget) when tqdm is installed, else one line redrawn with ``\\r`` on
stderr.
"""

from __future__ import annotations

import contextlib
import sys
import time
from typing import Any, final

# Seconds a fit runs before its bar appears (read at each update, so tests can
# set it to 0).
DELAY = 2.0

# Shortest interval between two redraws of the plain bar, in seconds.
_REDRAW_INTERVAL = 0.1
_WIDTH = 20  # characters of the plain bar


def progress_bar(
    enabled: bool, total: int, desc: str, unit: str
) -> contextlib.AbstractContextManager[EpochBar | None]:
    """A context manager giving an :class:`EpochBar`, or None when not ``enabled``.

    Parameters
    ----------
    enabled : bool
        The estimator's ``progress``.
    total : int
        Epochs (or iterations) the fit may run.
    desc : str
        Label in front of the bar.
    unit : str
        What one step is: 'epoch' or 'iter'.

    Returns
    -------
    bar : context manager
        Closes the bar on exit, whatever ends the fit.
    """
    if not enabled:
        return contextlib.nullcontext()
    return EpochBar(total, desc, unit)


@final
class EpochBar:
    """A bar over ``total`` steps that appears once :data:`DELAY` seconds have passed.

    Parameters
    ----------
    total : int
        Steps the fit may run.
    desc : str
        Label in front of the bar.
    unit : str
        What one step is.
    """

    def __init__(self, total: int, desc: str, unit: str) -> None:
        self.total = max(int(total), 1)
        self.desc = desc
        self.unit = unit
        self.closed = False
        self._start = time.perf_counter()
        self._bar: Any = None  # a _PlainBar or a tqdm bar, once drawn

    def __enter__(self) -> EpochBar:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def update(self, n: int, loss: float) -> None:
        """Show ``n`` steps done and the current ``loss``; closes itself at ``total``."""
        if self.closed:
            return
        if self._bar is None:
            if time.perf_counter() - self._start < DELAY:
                return
            self._bar = self._open(n, loss)
        elif isinstance(self._bar, _PlainBar):
            self._bar.show(n, loss)
        else:
            self._bar.set_postfix(loss=f"{loss:.4g}", refresh=False)
            self._bar.update(n - self._bar.n)
        if n >= self.total:
            self.close()

    def close(self) -> None:
        """End the bar's line (if it was drawn); safe to call more than once."""
        if self.closed:
            return
        self.closed = True
        if self._bar is not None:
            self._bar.close()

    def _open(self, n: int, loss: float):
        """Draw the bar, tqdm's if it is installed, at ``n`` steps done."""
        try:
            from tqdm.auto import tqdm
        except ImportError:
            bar = _PlainBar(self.total, self.desc, self.unit, self._start)
            bar.show(n, loss)
            return bar
        postfix = {"loss": f"{loss:.4g}"}
        bar = tqdm(total=self.total, initial=n, desc=self.desc, unit=self.unit, postfix=postfix)
        # Count the elapsed time and the mean rate from the start of the fit,
        # not from the moment the bar appeared.
        bar.start_t -= time.perf_counter() - self._start
        bar.initial = 0
        bar.refresh()
        return bar


class _PlainBar:
    """tqdm's layout on one line of stderr, redrawn in place with ``\\r``."""

    def __init__(self, total: int, desc: str, unit: str, start: float) -> None:
        self.total = total
        self.desc = desc
        self.unit = unit
        self.start = start
        self.n = 0
        self.loss = float("nan")
        self._last_draw = -float("inf")
        self._width = 0  # length of the line on screen, 0 before the first draw
        self._stale = False  # an update not drawn yet

    def show(self, n: int, loss: float) -> None:
        self.n, self.loss, self._stale = n, loss, True
        now = time.perf_counter()
        if n >= self.total or now - self._last_draw >= _REDRAW_INTERVAL:
            self._draw(now)

    def close(self) -> None:
        if self._stale:
            self._draw(time.perf_counter())
        if self._width:
            _write("\n")

    def _draw(self, now: float) -> None:
        line = self.line(now - self.start)
        if _write("\r" + line + " " * max(self._width - len(line), 0)):
            self._width = len(line)
        self._last_draw = now
        self._stale = False

    def line(self, elapsed: float) -> str:
        """The bar after ``elapsed`` seconds, without ``\\r``."""
        done = min(self.n / self.total, 1.0)
        filled = int(done * _WIDTH)
        rate = self.n / elapsed if self.n and elapsed > 0 else None
        left = (self.total - self.n) / rate if rate else None
        return (
            f"{self.desc}: {100 * done:3.0f}%|{'#' * filled}{' ' * (_WIDTH - filled)}| "
            f"{self.n}/{self.total} [{format_seconds(elapsed)}<{format_seconds(left)}, "
            f"{'?' if rate is None else f'{rate:.2f}'}{self.unit}/s, loss={self.loss:.4g}]"
        )


def _write(text: str) -> bool:
    """Write to the current stderr, if it is there and open; returns whether it was written."""
    stream = sys.stderr
    if stream is None:  # pythonw
        return False
    try:
        stream.write(text)
        stream.flush()
    except (OSError, ValueError):  # closed: a bar must never fail a fit
        return False
    return True


def format_seconds(seconds: float | None) -> str:
    """``mm:ss`` or ``h:mm:ss`` as tqdm writes times; ``?`` when unknown."""
    if seconds is None:
        return "?"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"
