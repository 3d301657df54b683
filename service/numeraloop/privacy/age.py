"""Adults only: nothing in a workspace can be done through /api/v1 until the caller has confirmed
they are 18 or older (profiles.age_confirmed_at, set by public.confirm_adult_age()).

`require_adult` runs before every /api/v1 route (api.surface) and answers 403
age_confirmation_required, except under /api/v1/me: those routes are about the caller's own
account (who they are, confirming their age, their privacy rights: export, deletion, requests),
which a person who has not confirmed, or who is a minor, must still be able to use. Any other
route, including one added later, is refused until the caller has confirmed. The web
application's pages have the same rule (web.signin.adult_required).

POST /api/v1/me/age-confirmation records the confirmation; the time is the database's.
"""

from __future__ import annotations

from flask import Blueprint, g, jsonify, request

from ..db import as_user, current_pool
from ..errors import ApiError

bp = Blueprint("privacy_age", __name__)

# The caller's own account: /api/v1/me and everything under it (api.PREFIX + ACCOUNT_PATH).
ACCOUNT_PATH = "/me"


def is_account_level(path_template: str) -> bool:
    """Whether a route (its path after /api/v1, as the router or the OpenAPI description writes
    it) acts on the caller's own account only, and so is open before the age confirmation."""
    return path_template == ACCOUNT_PATH or path_template.startswith(ACCOUNT_PATH + "/")


def require_adult() -> None:
    """before_request of the /api/v1 surface, after authentication."""
    from ..api import PREFIX

    rule = request.url_rule
    if rule is None:  # no such route or method: the router's 404 or 405 answers
        return
    if is_account_level(rule.rule[len(PREFIX) :]):
        return
    with as_user(current_pool(), g.claims) as conn:
        row = conn.execute("select age_confirmed_at from public.profiles where id = auth.uid()").fetchone()
    # No profile: an account deleted since its token was issued; the route answers that itself.
    if row is not None and row["age_confirmed_at"] is None:
        raise ApiError(
            403,
            "age_confirmation_required",
            "Confirm that you are 18 or older first: POST /api/v1/me/age-confirmation.",
        )


@bp.post("/me/age-confirmation")
def confirm_age():
    with as_user(current_pool(), g.claims) as conn:
        row = conn.execute("select id, age_confirmed_at from public.confirm_adult_age()").fetchone()
    if row is None or row["id"] is None:
        raise ApiError(404, "account_not_found", "This account no longer exists.")
    return jsonify(age_confirmed_at=row["age_confirmed_at"]), 200
