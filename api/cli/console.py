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

__all__ = ["err", "friendly", "out", "progress_bar", "show_json", "spinner"]

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
            for e in exc.errors():
                name = "WANGGE_" + "_".join(str(p) for p in e["loc"]).upper()
                err.print(
                    f"[bold red]设置无效 (invalid setting):[/] {name}={e['input']!r}: {e['msg']}",
                    highlight=False,
                    soft_wrap=True,
                )
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]  # functools.wraps keeps the signature typer reads


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
