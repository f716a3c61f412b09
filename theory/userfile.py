"""Run a user's Python file (a task file, a suite file) and return its namespace, or one clear error.

A task or suite file is code: loading it runs it as Python with the user's rights, in the main
process and again in every worker process that resolves it.  This module is the one place that
runs such a file, so every loader reports the same failures the same way: ``file:line: problem;
fix`` as a ``UserFileError``, never a traceback, never a silent exit.  Besides exceptions it
catches what a file can do to the process that loads it:

* ``sys.exit(...)`` / ``raise SystemExit`` (a command would otherwise exit 0 silently);
* ``raise KeyboardInterrupt`` from the file itself (a real Ctrl-C is passed through unchanged);
* never returning: the file runs under a time limit, ``LENGTHGEN_LOAD_TIMEOUT`` seconds
  (default 30), enforced with ``SIGALRM``.  The alarm needs the main thread of a POSIX process;
  elsewhere (a Ray worker thread, Windows) the file runs without a limit.
"""

from __future__ import annotations

import linecache
import math
import os
import runpy
import signal
import sys
import threading
import traceback
from pathlib import Path

from .task import TaskDefinitionError

#: environment variable: seconds a user file may take to load (a positive number)
TIMEOUT_VARIABLE = "LENGTHGEN_LOAD_TIMEOUT"
DEFAULT_TIMEOUT = 30.0

#: what each kind of file should contain, for the fix in a message
_EXPECTED = {"task": "define TASK = Task(...)", "suite": "define SUITE = Suite(...)"}
_NAME_HINT = {"task": "import it from theory.language (t, n, j, x, a, b, q, y, MinOver, CountWhere, ...)",
              "suite": "import it (e.g. from verify.suite import Suite, TaskPlan)"}


class UserFileError(TaskDefinitionError):
    """A user file could not be loaded; the message starts with ``file:line``."""


class _LoadTimeout(BaseException):
    """Raised inside the user's file by the alarm (a BaseException so the file cannot swallow it
    with ``except Exception``)."""


def load_timeout() -> float:
    """Seconds a user file may take to load, from ``LENGTHGEN_LOAD_TIMEOUT`` (default 30)."""
    raw = os.environ.get(TIMEOUT_VARIABLE)
    if raw is None or raw.strip() == "":
        return DEFAULT_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not (math.isfinite(value) and value > 0):
        raise UserFileError(f"{TIMEOUT_VARIABLE}={raw!r} is not a positive number of seconds; "
                            f"set it to e.g. {DEFAULT_TIMEOUT:.0f} or unset it")
    return value


def definition_line(path: Path, tb) -> str:
    """``file:line`` of the deepest frame of ``tb`` inside the user's file (where the error was made)."""
    target = str(Path(path).resolve())
    found = None
    for frame in traceback.extract_tb(tb):
        if str(Path(frame.filename).resolve()) == target:
            found = frame
    return str(path) if found is None else f"{path}:{found.lineno}"


def run_user_file(path: str | Path, kind: str = "task") -> dict:
    """Run ``path`` as Python (``runpy.run_path``) and return its namespace.

    Every way the file can fail to load becomes a ``UserFileError`` whose message is
    ``file:line: problem; fix``.  ``kind`` ("task" or "suite") only words the messages.
    """
    path = Path(path)
    expected = _EXPECTED.get(kind, "define what the command needs")
    if not path.is_file():
        raise UserFileError(f"no {kind} file at {path}; give the path to a .py file")
    timeout = load_timeout()
    interrupted = []  # set by our SIGINT handler: a real Ctrl-C, not the file raising KeyboardInterrupt
    guarded = threading.current_thread() is threading.main_thread() and hasattr(signal, "SIGALRM")
    if guarded:
        def on_alarm(signum, frame):
            raise _LoadTimeout()

        def on_interrupt(signum, frame):
            interrupted.append(True)
            raise KeyboardInterrupt

        old_alarm = signal.signal(signal.SIGALRM, on_alarm)
        old_interrupt = signal.signal(signal.SIGINT, on_interrupt)
        old_timer = signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        return runpy.run_path(str(path))
    except _LoadTimeout:
        raise UserFileError(f"{definition_line(path, sys.exc_info()[2])}: the {kind} file did not finish loading "
                            f"within {timeout:g} s (it is run as Python; a loop that never ends?); a {kind} file "
                            f"should only {expected}, or increase {TIMEOUT_VARIABLE} (seconds) if it is merely slow") from None
    except SystemExit as err:
        raise UserFileError(f"{definition_line(path, sys.exc_info()[2])}: the {kind} file exits while being loaded "
                            f"(SystemExit({err.code!r}), e.g. sys.exit()); remove the exit: a {kind} file should "
                            f"only {expected}") from None
    except KeyboardInterrupt:
        if interrupted:
            raise  # the user pressed Ctrl-C: the command's own handling applies
        raise UserFileError(f"{definition_line(path, sys.exc_info()[2])}: the {kind} file raises KeyboardInterrupt "
                            f"while being loaded; remove it: a {kind} file should only {expected}") from None
    except TaskDefinitionError as err:
        raise UserFileError(f"{definition_line(path, sys.exc_info()[2])}: {err}") from None
    except NameError as err:
        raise UserFileError(f"{definition_line(path, sys.exc_info()[2])}: {err}; "
                            f"{_NAME_HINT.get(kind, 'define or import it')}") from None
    except SyntaxError as err:
        where = f"{path}:{err.lineno}" if err.lineno else str(path)  # null bytes have no line
        raise UserFileError(f"{where}: syntax error: {err.msg}") from None
    except Exception as err:  # anything else the file does wrong, named with its line
        raise UserFileError(f"{definition_line(path, sys.exc_info()[2])}: {type(err).__name__}: {err}") from None
    finally:
        if guarded:
            signal.setitimer(signal.ITIMER_REAL, *old_timer)
            signal.signal(signal.SIGALRM, old_alarm)
            signal.signal(signal.SIGINT, old_interrupt)
        linecache.checkcache(str(path))
