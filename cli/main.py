"""The ``monitor`` command: subcommands are registered from cli modules."""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import importlib
import os
import sys
import threading

import typer

app = typer.Typer(
    help="Video monitor: detect, track and raise alerts on video; train and evaluate its models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,  # plain click help: flags show as flags, lines fit 80 columns
)


@app.callback()
def _root() -> None:
    """Video monitor: detect, track and raise alerts on video; train and evaluate its models."""


_COMMAND_MODULES = ("batch", "train", "models", "anomaly", "teachers", "demo", "dashboard", "users", "live", "purge", "finetune", "backtest")  # fmt: skip

for _name in _COMMAND_MODULES:
    try:
        _mod = importlib.import_module(f"cli.{_name}")
    except ModuleNotFoundError as _err:  # a command module not written yet
        if _err.name != f"cli.{_name}":
            raise
        continue
    _mod.register(app)


def _user_errors() -> tuple[type[BaseException], ...]:
    """Errors that mean bad input (a missing file, an unknown model, a wrong config field or
    label line): their message names the thing, so it is printed alone, without a traceback."""
    from monitor.purge import PurgeError
    from monitor.registry import UnknownVersionError
    from monitor.schema import ConfigError
    from monitor.sources import SourceError
    from monitor.store import StoreError
    from training.labels import LabelError
    from training.stages import StaleWorkError

    return (FileNotFoundError, NotADirectoryError, UnknownVersionError, ConfigError, SourceError,
            LabelError, PurgeError, StoreError, StaleWorkError)  # fmt: skip


def main() -> None:
    """Console-script entry point; bad input exits 2 with a one-line error (MONITOR_DEBUG=1:
    the traceback too)."""
    try:
        app()
    except Exception as err:
        if os.environ.get("MONITOR_DEBUG") or not isinstance(err, _user_errors()):
            raise
        typer.echo(f"error: {err}", err=True)
        raise SystemExit(2) from None


def run() -> None:
    """The ``monitor`` executable: :func:`main`, then, after a clean finish, exit at once.

    With torch imported (the trackers need it), Python's own teardown of its modules takes
    ~0.5 s after the work is done. By then every output is closed and flushed, so exit handlers
    run (logging, temporary folders) and the process ends without that teardown. Failures and
    runs with live non-daemon threads exit the ordinary way.
    """
    try:
        main()
    except SystemExit as done:
        if done.code not in (0, None):
            raise
    if any(not t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
        return
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe (`monitor ... | head`)
            stream.flush()
    with contextlib.suppress(Exception):  # and what native libraries printed through C stdio
        ctypes.CDLL(None).fflush(None)
    os._exit(0)
