"""What every command shares: the two consoles, the friendly error exit, progress displays."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from geo.errors import WanggeError

__all__ = ["err", "friendly", "out", "progress_bar", "settings_or_exit", "show_json", "spinner"]

out = Console()
err = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])


def friendly(fn: F) -> F:
    """Turn a WanggeError into a message on stderr and exit status 1."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except WanggeError as exc:
            err.print(f"[bold red]错误 (error):[/] {exc.message}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None
        except ValidationError as exc:
            if exc.title != "Settings":
                raise
            _settings_error(exc)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]  # functools.wraps keeps the signature typer reads


def _settings_error(exc: ValidationError) -> None:
    for e in exc.errors():
        # a check across fields (loc empty) has every setting as its input, passwords in
        # URLs included: name the message only
        name = "WANGGE_" + "_".join(str(p) for p in e["loc"]).upper()
        said = f"{name}={e['input']!r}: " if e["loc"] else ""
        err.print(f"[bold red]设置无效 (invalid setting):[/] {said}{e['msg']}", highlight=False)


def settings_or_exit() -> None:
    """Read the settings before any command module is imported (the models read them when
    imported): a bad ``WANGGE_*`` value is a message naming it and exit status 1, not a
    traceback."""
    from geo.settings import get_settings

    try:
        get_settings()
    except ValidationError as exc:
        _settings_error(exc)
        raise SystemExit(1) from None


def show_json(obj: Any) -> None:
    """Print ``obj`` as indented JSON on stdout (CJK as is)."""
    print(json.dumps(obj, ensure_ascii=False, indent=2, default=str))


def progress_bar() -> Progress:
    """A progress bar on stderr: description, bar, done/total, time."""
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=err,
        transient=False,
    )


@contextmanager
def spinner(text: str) -> Iterator[Progress]:
    """A spinner on stderr saying ``text`` while the block runs; gone when it ends."""
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as progress:
        progress.add_task(text, total=None)
        yield progress
