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
        int, typer.Option(help="Threads answering requests at once (the pool size).")
    ] = 40,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
) -> None:
    """Serve the web pages and the REST API (/api, OpenAPI at /api/docs) of a workspace."""
    import uvicorn

    from popweave.api.app import create_app

    app = create_app(workspace, threads=workers)
    console.print(
        f"popweave serving {workspace} on http://{host}:{port}/ (API docs: /api/docs); "
        "the warehouse is open read-only until you stop the server (Ctrl-C)"
    )
    uvicorn.run(app, host=host, port=port, log_level="warning")


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
