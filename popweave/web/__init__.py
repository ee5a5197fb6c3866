"""Server-rendered pages (Jinja2 + htmx, served offline from ``static/``): the case
manager's worklist and patient pages, community organisations and referrals, the manager
dashboard, and user administration."""

from popweave.web.render import STATIC, TEMPLATES, render, render_error

__all__ = ["STATIC", "TEMPLATES", "render", "render_error"]
