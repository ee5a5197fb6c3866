"""`popweave serve` (the web app and REST API) and `popweave demo-users`."""

from __future__ import annotations

from typing import Annotated

import typer

from popweave.cli_common import DEFAULT_WORKSPACE, WorkspaceOpt, console, friendly


@friendly
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[
        int, typer.Option(help="Threads answering requests at once in each process.")
    ] = 40,
    processes: Annotated[
        int,
        typer.Option(
            min=1,
            help="Server processes (each opens the warehouse read-only; one per CPU core "
            "serves the most pages).",
        ),
    ] = 1,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
) -> None:
    """Serve the web pages and the REST API (/api, OpenAPI at /api/docs) of a workspace."""
    import os

    import uvicorn

    from popweave.api.app import SERVE_THREADS_ENV, SERVE_WORKSPACE_ENV, create_app

    msg = (
        f"popweave serving {workspace} on http://{host}:{port}/ (API docs: /api/docs); "
        "the warehouse is open read-only until you stop the server (Ctrl-C)"
    )
    if processes == 1:
        app = create_app(workspace, threads=workers)
        console.print(msg)
        uvicorn.run(app, host=host, port=port, log_level="warning")
        return
    from popweave.api.state import load_secret
    from popweave.care.store import open_store
    from popweave.workspace import Workspace

    # Made once here, so the processes do not race to create the secret or migrate.
    ws = Workspace.open(workspace)
    load_secret(ws)
    open_store(ws).close()
    os.environ[SERVE_WORKSPACE_ENV] = str(ws.root)
    os.environ[SERVE_THREADS_ENV] = str(workers)
    console.print(f"{msg}; {processes} processes")
    uvicorn.run(
        "popweave.api.app:create_app_from_env",
        factory=True,
        workers=processes,
        host=host,
        port=port,
        log_level="warning",
    )


@friendly
def demo_users(
    panel_size: Annotated[int, typer.Option(help="Patients on each coordinator's panel.")] = 25,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
) -> None:
    """Create a demo login for each role (a panel, tasks and a care plan for the care
    manager) and print them."""
    from popweave.api.demo import seed_demo

    logins = seed_demo(workspace, panel_size=panel_size)
    console.print("Demo logins (user / password / role):")
    for d in logins:
        note = "" if d.created else "  (already there; password unchanged)"
        console.print(f"  {d.username:<8} {d.password:<20} {d.role.value}{note}")
