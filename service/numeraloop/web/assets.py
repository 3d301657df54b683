"""Browser packages installed from npm (package.json, package-lock.json), served from this
service so that no page loads a script from anywhere else."""

from __future__ import annotations

from flask import Blueprint, abort, send_file

from ..config import default_project_root

bp = Blueprint("assets", __name__)

# The files a page may load, by the name the page uses.
VENDOR = {
    "htmx.min.js": "htmx.org/dist/htmx.min.js",
}


@bp.get("/static/vendor/<name>")
def vendor(name: str):
    relative = VENDOR.get(name)
    if relative is None:
        abort(404)
    path = default_project_root() / "node_modules" / relative
    if not path.is_file():
        # The page still works without it, as plain forms; the operator needs to know why.
        import logging

        logging.getLogger(__name__).error("%s is missing: run `make install` (npm ci)", path)
        abort(404)
    return send_file(path, mimetype="text/javascript", max_age=3600)
