"""Settings: your profile, a workspace's members and roles (invitations included), and your data
(export, account deletion); and the page that accepts an invitation.

Everything runs as the signed-in user, so the SQL rules decide: RLS shows only their workspaces,
the membership triggers refuse what a role may not do (a workspace always keeps an owner), and
the invitation and deletion functions are the same ones /api/v1 calls (privacy/deletion.py,
privacy/export.py and the invitation SQL functions). A refusal is the database's sentence, or a
clearer one for the page, never a stack trace.

Profile and your data need only a session, not the adult confirmation: a person who will not
confirm their age can still see, export and delete what NumeraLoop holds about them.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import psycopg
from flask import Blueprint, abort, current_app, g, redirect, render_template, request, url_for

from ..db import as_user, current_pool
from ..errors import ApiError, sql_error
from ..privacy import deletion
from ..privacy import export as privacy_export
from . import pages, safe_next, signed_in, workspace
from .signin import EMAIL, adult_required

bp = Blueprint("settings", __name__)
pages.install(bp)

MAX_NAME = 200
MAX_TOKEN = 200
ROLES = (("agent", "Agent"), ("admin", "Admin"), ("owner", "Owner"))
INVITABLE = ("agent", "admin")
LAST_OWNER = (
    "A workspace always keeps at least one owner, and {who} the only one here. Make another member an "
    "owner first, then {what}."
)
DONE = {
    "profile": "Your name is saved.",
    "role": "The role is changed.",
    "removed": "The member is removed from the workspace.",
    "left": "You have left the workspace.",
    "revoked": "The invitation is revoked: its link no longer works.",
    "joined": "You have joined the workspace.",
    "deletion_canceled": "The deletion is cancelled: your account stays.",
    "no_deletion": "There was no deletion waiting to be cancelled.",
}


def _uuid(value: str | None) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        abort(404)


def _notice() -> str | None:
    return DONE.get(request.args.get("done", ""))


@bp.get("/settings")
@signed_in
def settings_home():
    return redirect(url_for("web.settings.profile_page"))


# ---------------------------------------------------------------------------------------
# Profile


def _profile() -> dict:
    with as_user(current_pool(), g.claims) as conn:
        return conn.execute(
            "select email, full_name, created_at, "
            "       coalesce((preferences ->> 'email_on_new_message')::boolean, true) as email_on_new_message "
            "  from public.profiles where id = auth.uid()"
        ).fetchone()


@bp.get("/settings/profile")
@signed_in
def profile_page():
    return render_template("settings/profile.html", profile=_profile(), notice=_notice())


@bp.post("/settings/profile")
@signed_in
def save_profile():
    full_name = (request.form.get("full_name") or "").strip()
    if len(full_name) > MAX_NAME:
        return render_template(
            "settings/profile.html",
            profile={**_profile(), "full_name": full_name[: MAX_NAME + 50]},
            error=f"Your name can be at most {MAX_NAME} characters.",
        ), 400
    # Unticked, a checkbox sends nothing: its absence is the choice "no e-mails".
    email_on_new_message = request.form.get("email_on_new_message") == "yes"
    with as_user(current_pool(), g.claims) as conn:
        conn.execute(
            "update public.profiles set full_name = %s, preferences = coalesce(preferences, '{}'::jsonb) "
            "|| jsonb_build_object('email_on_new_message', %s::boolean) where id = auth.uid()",
            (full_name, email_on_new_message),
        )
    return redirect(url_for("web.settings.profile_page", done="profile"), 303)


# ---------------------------------------------------------------------------------------
# Members


def _members_page(status: int = 200, error: str | None = None, invited: dict | None = None, invite: dict | None = None):
    ws = workspace.current()
    with as_user(current_pool(), g.claims) as conn:
        memberships = conn.execute(
            "select w.id::text, w.name from public.workspaces w join public.workspace_members m "
            "on m.workspace_id = w.id and m.user_id = auth.uid() order by w.is_personal desc, m.created_at"
        ).fetchall()
        members = conn.execute("select * from public.workspace_member_directory(%s)", (ws["id"],)).fetchall()
        invitations = (
            conn.execute(
                "select id, email, role::text, created_at, expires_at from public.workspace_invitations "
                " where workspace_id = %s and accepted_at is null and revoked_at is null and expires_at > now() "
                " order by created_at desc limit 200",
                (ws["id"],),
            ).fetchall()
            if ws["role"] in ("admin", "owner")
            else []
        )
    owners = sum(1 for m in members if m["role"] == "owner")
    return render_template(
        "settings/members.html",
        workspace=ws,
        memberships=memberships,
        members=members,
        invitations=invitations,
        owners=owners,
        roles=ROLES,
        me=g.user_id,
        error=error,
        invited=invited,
        invite=invite or {},
        notice=_notice(),
    ), status


@bp.get("/settings/members")
@adult_required
def members_page():
    return _members_page()


def _workspace_of_form() -> dict:
    """The workspace a members form is about (the `workspace` field), as workspace.current() reads it."""
    ws = workspace.current()
    if request.form.get("workspace") != ws["id"]:
        abort(404)
    return ws


def _accept_link(token: str) -> str:
    base = current_app.config["NUMERALOOP"].public_base_url
    return base + url_for("web.settings.accept_page", token=token)


@bp.post("/settings/members/invite")
@adult_required
def invite():
    ws = _workspace_of_form()
    email = (request.form.get("email") or "").strip().lower()[:400]
    role = request.form.get("role") or "agent"
    kept = {"email": email, "role": role}
    if not EMAIL.match(email):
        return _members_page(
            400, "Enter the e-mail address of the person to invite, like name@example.com.", invite=kept
        )
    if role not in INVITABLE:
        return _members_page(
            400,
            "An invitation makes an agent or an admin; once they have joined, an owner can make them an owner.",
            invite=kept,
        )
    try:
        with as_user(current_pool(), g.claims) as conn:
            invitation = conn.execute(
                "select public.invite_to_workspace(%s, %s, %s::public.workspace_role) as r", (ws["id"], email, role)
            ).fetchone()["r"]
    except psycopg.Error as exc:
        error = sql_error(exc)
        if error is None:
            raise
        return _members_page(error.status, error.message, invite=kept)
    # Sending invitations by e-mail is not built: the admin passes the link on, and sees it this once
    # (only the token's hash is stored), so this answer is the page itself, not a redirect.
    invited = {
        "email": invitation["email"],
        "role": invitation["role"],
        "expires_at": datetime.fromisoformat(invitation["expires_at"]),
        "link": _accept_link(invitation["token"]),
    }
    return _members_page(201, invited=invited)


@bp.post("/settings/members/invitations/<invitation_id>/revoke")
@adult_required
def revoke(invitation_id: str):
    ws = _workspace_of_form()
    with as_user(current_pool(), g.claims) as conn:
        conn.execute("select public.revoke_workspace_invitation(%s, %s)", (ws["id"], _uuid(invitation_id)))
    return redirect(url_for("web.settings.members_page", workspace=ws["id"], done="revoked"), 303)


def _refusal(exc: psycopg.Error, who: str, what: str) -> ApiError:
    """A membership trigger's refusal in the page's words; the last-owner rule names its way out."""
    if exc.sqlstate == "23514" and "at least one owner" in (exc.diag.message_primary or ""):
        return ApiError(409, "last_owner", LAST_OWNER.format(who=who, what=what))
    error = sql_error(exc)
    if error is None:
        raise exc
    return error


def _member(conn, workspace_id: str, user_id: str) -> dict:
    row = conn.execute(
        "select * from public.workspace_member_directory(%s) where user_id = %s", (workspace_id, user_id)
    ).fetchone()
    if row is None:
        abort(404)
    return row


@bp.post("/settings/members/<user_id>/role")
@adult_required
def change_role(user_id: str):
    ws = _workspace_of_form()
    user_id = _uuid(user_id)
    role = request.form.get("role") or ""
    if role not in dict(ROLES):
        return _members_page(400, "Choose agent, admin or owner.")
    if ws["role"] not in ("admin", "owner"):
        return _members_page(403, "Only the workspace's admins and owners can change roles.")
    me = user_id == g.user_id
    try:
        with as_user(current_pool(), g.claims) as conn:
            _member(conn, ws["id"], user_id)
            conn.execute(
                "update public.workspace_members set role = %s::public.workspace_role "
                " where workspace_id = %s and user_id = %s",
                (role, ws["id"], user_id),
            )
    except psycopg.Error as exc:
        refusal = _refusal(exc, "you are" if me else "they are", "change " + ("your" if me else "their") + " role")
        return _members_page(refusal.status, refusal.message)
    return redirect(url_for("web.settings.members_page", workspace=ws["id"], done="role"), 303)


@bp.post("/settings/members/<user_id>/remove")
@adult_required
def remove_member(user_id: str):
    ws = _workspace_of_form()
    user_id = _uuid(user_id)
    me = user_id == g.user_id
    if not me and ws["role"] not in ("admin", "owner"):
        return _members_page(403, "Only the workspace's admins and owners can remove members.")
    try:
        with as_user(current_pool(), g.claims) as conn:
            _member(conn, ws["id"], user_id)
            conn.execute(
                "delete from public.workspace_members where workspace_id = %s and user_id = %s", (ws["id"], user_id)
            )
    except psycopg.Error as exc:
        refusal = _refusal(exc, "you are" if me else "they are", "leave" if me else "remove them")
        return _members_page(refusal.status, refusal.message)
    if me:
        return redirect(url_for("web.settings.members_page", done="left"), 303)
    return redirect(url_for("web.settings.members_page", workspace=ws["id"], done="removed"), 303)


# ---------------------------------------------------------------------------------------
# Your data


def _data_page(status: int = 200, error: str | None = None):
    return render_template(
        "settings/data.html",
        state=deletion.status(),
        error=error,
        notice=_notice(),
        scheduled=request.args.get("done") == "deletion_scheduled",
    ), status


@bp.get("/settings/data")
@signed_in
def data_page():
    return _data_page()


@bp.get("/settings/data/export")
@signed_in
def export():
    """The same download as GET /api/v1/me/export (format=json or csv)."""
    return privacy_export.export_my_data()


@bp.post("/settings/data/deletion")
@signed_in
def schedule_deletion():
    if request.form.get("understood") != "yes":
        return _data_page(
            400, "Tick the box to confirm you understand what will be deleted, then press the button again."
        )
    deletion.schedule()
    return redirect(url_for("web.settings.data_page", done="deletion_scheduled"), 303)


@bp.post("/settings/data/deletion/cancel")
@signed_in
def cancel_deletion():
    try:
        deletion.cancel()
    except ApiError as exc:
        if exc.code != "no_deletion_request":
            raise
        return redirect(url_for("web.settings.data_page", done="no_deletion"), 303)
    return redirect(url_for("web.settings.data_page", done="deletion_canceled"), 303)


@bp.get("/settings/welcome-back")
@signed_in
def welcome_back():
    """Where sign-in leads first: a person whose account is scheduled for deletion is told so, with
    the date and a way to cancel; anyone else goes straight on."""
    target = safe_next(request.args.get("next"))
    state = deletion.status()
    if state["deletion"] is None:
        return redirect(target)
    return render_template("settings/welcome_back.html", state=state, next=target)


# ---------------------------------------------------------------------------------------
# Accepting an invitation


def _accept_form(token: str, status: int = 200, error: str | None = None):
    with as_user(current_pool(), g.claims) as conn:
        email = conn.execute("select email from public.profiles where id = auth.uid()").fetchone()["email"]
    return render_template("settings/accept.html", token=token, email=email, error=error), status


# Joining a workspace is workspace business: adults only, as every workspace page.
_accept_form_for_adults = adult_required(_accept_form)


@bp.get("/invitations/accept")
def accept_page():
    """The invitation link. Signed out, it says how to come back signed in (with the address invited)."""
    token = (request.args.get("token") or "").strip()[:MAX_TOKEN]
    if g.get("session") is None:
        here = url_for("web.settings.accept_page", token=token)
        return render_template(
            "settings/accept.html", token=token, signed_out=True, signin=url_for("web.signin.signin_page", next=here)
        )
    return _accept_form_for_adults(token)


@bp.post("/invitations/accept")
@adult_required
def accept():
    token = (request.form.get("token") or "").strip()[:MAX_TOKEN]
    if not token:
        return _accept_form(token, 400, "This link has no invitation in it: open the whole link you were sent.")
    try:
        with as_user(current_pool(), g.claims) as conn:
            accepted = conn.execute("select public.accept_workspace_invitation(%s) as r", (token,)).fetchone()["r"]
    except psycopg.Error as exc:
        error = sql_error(exc)
        if error is None:
            raise
        return _accept_form(token, error.status, error.message)
    return redirect(url_for("web.settings.members_page", workspace=accepted["workspace_id"], done="joined"), 303)
