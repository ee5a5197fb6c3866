"""What every `popweave` command shares: consoles, the --workspace option, error handling."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from popweave.errors import PopweaveError

console = Console()
err = Console(stderr=True)

DEFAULT_WORKSPACE = Path(os.environ.get("POPWEAVE_WORKSPACE", "popweave-data"))
WorkspaceOpt = Annotated[
    Path,
    typer.Option(
        "--workspace", "-w", help="Workspace folder (env POPWEAVE_WORKSPACE).", show_default=True
    ),
]

F = TypeVar("F", bound=Callable[..., Any])


def friendly(fn: F) -> F:
    """Turn user mistakes into one clear line on stderr and exit code 2 (no traceback)."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except PopweaveError as exc:
            err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            err.print("[bold red]interrupted[/]: nothing was changed")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def spinner() -> Progress:
    """A one-line progress display on stderr for steps of unknown length (gone when done)."""
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )
