"""The ``monitor`` command: subcommands are registered from cli modules."""

from __future__ import annotations

import importlib

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


_COMMAND_MODULES = ("batch", "train", "anomaly", "teachers", "demo", "dashboard", "users", "live", "purge", "finetune", "backtest")  # fmt: skip

for _name in _COMMAND_MODULES:
    try:
        _mod = importlib.import_module(f"cli.{_name}")
    except ModuleNotFoundError as _err:  # a command module not written yet
        if _err.name != f"cli.{_name}":
            raise
        continue
    _mod.register(app)


def main() -> None:
    """Console-script entry point."""
    app()
