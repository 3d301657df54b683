"""GoTrue's HTTP API under /auth/v1: the endpoints the `supabase` client's auth calls use.

    POST /signup                     sign_up (e-mail and password)
    POST /token?grant_type=password  sign_in_with_password
    POST /token?grant_type=refresh_token   refresh_session, set_session, auto-refresh
    POST /token?grant_type=pkce      exchange_code_for_session (after an e-mail link, PKCE flow)
    GET  /user, PUT /user            get_user, update_user ({password}, {email}, {data})
    POST /logout?scope=global|local|others   sign_out
    POST /recover                    reset_password_for_email
    POST /verify, GET /verify        verify_otp; the link in e-mails
    GET  /settings, /health, /.well-known/jwks.json

Every request needs the project's `apikey` (header or query), as Supabase's gateway requires,
except what Supabase leaves open: GET /verify (followed from an e-mail) and the JWKS.
Phone, OAuth, MFA, anonymous users and the admin API are not provided.

E-mail change is confirmed once, on the new address (GoTrue with secure e-mail change off,
`double_confirm_changes = false`): the address changes when that link or code is verified.
"""

from __future__ import annotations

import json
import re
import secrets
import smtplib
import uuid
from datetime import timedelta
from fnmatch import fnmatchcase
from urllib.parse import urlencode, urlsplit, urlunsplit

import psycopg
from flask import Blueprint, current_app, jsonify, redirect, request

from . import errors
from .errors import ApiKeyError, GoTrueError
from .store import MAX_PASSWORD_BYTES, hash_password, is_banned, new_otp, now, password_matches, pkce_matches, user_json
from .store import token_hash as make_token_hash

bp = Blueprint("supabase_auth", __name__, url_prefix="/auth/v1")

OPEN_ENDPOINTS = {"supabase_auth.verify_link", "supabase_auth.jwks"}
_BEARER = re.compile(r"^[Bb]earer (\S+)$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
_REFRESH_TOKEN = re.compile(r"^[a-z0-9]{12}$")
_CODE_CHALLENGE = re.compile(r"^[a-zA-Z._~0-9-]{43,128}$")
PKCE_PREFIX = "pkce_"

# verify `type` -> (the one-time token it checks, the PKCE flow's authentication method)
VERIFY_TYPES = {
    "signup": ("confirmation", "email/signup"),
    "invite": ("confirmation", "invite"),
    "recovery": ("recovery", "recovery"),
    "magiclink": ("recovery", "magiclink"),
    "email_change": ("email_change", "email_change"),
    "email": ("confirmation", "email"),
}
SENT_AT = {
    "confirmation": "confirmation_sent_at",
    "recovery": "recovery_sent_at",
    "email_change": "email_change_sent_at",
}
LINK_TYPE = {"confirmation": "signup", "recovery": "recovery", "email_change": "email_change"}


def state():
    return current_app.extensions["numeraloop_local.supabase_auth"]


@bp.before_request
def _require_apikey():
    if request.endpoint in OPEN_ENDPOINTS:
        return
    key = request.headers.get("apikey") or request.args.get("apikey")
    if not key:
        raise ApiKeyError(missing=True)
    if not secrets.compare_digest(key.encode(), state().settings.anon_key.encode()):
        raise ApiKeyError(missing=False)


@bp.errorhandler(GoTrueError)
def _gotrue_error(exc: GoTrueError):
    return exc.response()


@bp.errorhandler(ApiKeyError)
def _apikey_error(exc: ApiKeyError):
    return exc.response()


# -- request helpers --------------------------------------------------------------------------
def body() -> dict:
    try:
        parsed = json.loads(request.get_data() or b"")
    except ValueError as exc:
        raise errors.bad_request("bad_json", f"Could not parse request body as JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise errors.bad_request("bad_json", "Could not parse request body as JSON: expected an object")
    return parsed


def text(params: dict, name: str) -> str:
    value = params.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise errors.bad_request("bad_json", f"Could not parse request body as JSON: {name} must be a string")
    return value


def valid_email(email: str) -> str:
    if not email:
        raise errors.validation("An email address is required")
    if len(email) > 255:
        raise errors.validation("An email address is too long")
    if not _EMAIL.match(email):
        raise errors.validation("Unable to validate email address: invalid format")
    return email.lower()


def check_password(password: str) -> None:
    if len(password.encode()) > MAX_PASSWORD_BYTES:
        raise errors.validation(f"Password cannot be longer than {MAX_PASSWORD_BYTES} characters")
    weakness = password_weakness(password)
    if weakness:
        raise errors.weak_password(*weakness)


def password_weakness(password: str) -> tuple[str, list[str]] | None:
    minimum = state().settings.minimum_password_length
    if len(password) < minimum:
        return f"Password should be at least {minimum} characters.", ["length"]
    return None


def pkce_challenge(params: dict) -> tuple[str, str] | None:
    challenge, method = text(params, "code_challenge"), text(params, "code_challenge_method")
    if bool(challenge) != bool(method):
        raise errors.validation("PKCE flow requires code_challenge_method and code_challenge")
    if not challenge:
        return None
    if not _CODE_CHALLENGE.match(challenge):
        raise errors.validation(
            "code challenge has to be between 43 and 128 characters of letters, digits, "
            "hyphens, periods, underscores and tildes"
        )
    if method.lower() not in ("s256", "plain"):
        raise errors.validation("code challenge method not supported")
    return challenge, method


def client_info() -> tuple[str | None, str | None]:
    return request.headers.get("User-Agent"), request.remote_addr


def redirect_allowed(url: str) -> bool:
    settings = state().settings
    try:
        target, site = urlsplit(url), urlsplit(settings.site_url)
    except ValueError:
        return False
    if not target.scheme or not target.hostname:
        return False
    local = target.hostname in ("localhost", "127.0.0.1", "::1")
    if target.scheme == site.scheme and target.hostname == site.hostname and (target.port == site.port or local):
        return True
    return any(url == allowed or fnmatchcase(url, allowed) for allowed in settings.additional_redirect_urls)


def referrer() -> str:
    """Where links and redirects lead: redirect_to if allowed, else the Referer if allowed, else SITE_URL."""
    for candidate in (request.args.get("redirect_to", ""), request.headers.get("Referer", "")):
        if candidate and redirect_allowed(candidate):
            return candidate
    return state().settings.site_url


def authenticate() -> tuple[dict, dict, str | None]:
    """(claims, user row, session id) of the bearer token, checked as GoTrue checks it."""
    m = _BEARER.match(request.headers.get("Authorization", ""))
    if not m:
        raise GoTrueError(401, "no_authorization", "This endpoint requires a valid Bearer token")
    claims = state().signer.verify(m[1])
    if not claims.get("sub"):
        raise errors.forbidden("bad_jwt", "invalid claim: missing sub claim")
    try:
        uuid.UUID(str(claims["sub"]))
    except ValueError:
        raise errors.bad_request("bad_jwt", "invalid claim: sub claim must be a UUID") from None
    store = state().store
    with store.tx() as conn:
        user = store.user_by_id(conn, claims["sub"])
        if user is None:
            raise errors.forbidden("user_not_found", "User from sub claim in JWT does not exist")
        session_id = claims.get("session_id") or None
        if session_id == "00000000-0000-0000-0000-000000000000":
            session_id = None
        if session_id is not None:
            try:
                uuid.UUID(str(session_id))
            except ValueError:
                raise errors.forbidden("bad_jwt", "invalid claim: session_id claim must be a UUID") from None
            if not store.session_exists(conn, session_id):
                raise errors.forbidden("session_not_found", "Session from session_id claim in JWT does not exist")
    if is_banned(user):
        raise errors.forbidden("user_banned", "User is banned")
    return claims, user, session_id


def session_response(conn, user_id: str, session_id: str, refresh_token: str) -> dict:
    """GoTrue's token response: the access token, its expiry, the refresh token and the user."""
    st = state()
    user = user_json(st.store.user_by_id(conn, user_id))
    access_token, expires_at = st.signer.issue(st.issuer, user, session_id, st.store.amr(conn, session_id))
    return {
        "access_token": access_token,
        "token_type": "bearer",
        "expires_in": expires_at - int(now().timestamp()),
        "expires_at": expires_at,
        "refresh_token": refresh_token,
        "user": user,
    }


def new_session(conn, user_id: str, method: str) -> dict:
    session_id, refresh_token = state().store.start_session(conn, user_id, method, *client_info())
    return session_response(conn, user_id, session_id, refresh_token)


def send_one_time_token(conn, user: dict, kind: str, pkce: bool, new_email: str | None = None) -> None:
    """Store a new one-time token of `kind` for `user` and e-mail it (to `new_email` for a change)."""
    st = state()
    sent_at = user[SENT_AT[kind]]
    wait = st.settings.max_frequency
    if sent_at is not None and now() < sent_at + timedelta(seconds=wait):
        left = int((sent_at + timedelta(seconds=wait) - now()).total_seconds())
        raise GoTrueError(
            429, "over_email_send_rate_limit", f"For security purposes, you can only request this after {left} seconds."
        )
    address = new_email or user["email"]
    otp = new_otp(st.settings.otp_length)
    hashed = (PKCE_PREFIX if pkce else "") + make_token_hash(address, otp)
    st.store.set_one_time_token(conn, str(user["id"]), kind, hashed, new_email=new_email)
    redirect_to = referrer()
    values = {
        "ConfirmationURL": st.confirmation_url(hashed, LINK_TYPE[kind], redirect_to),
        "Token": otp,
        "TokenHash": hashed,
        "SiteURL": st.settings.site_url,
        "RedirectTo": redirect_to,
        "Email": user["email"] or "",
        "NewEmail": new_email or "",
    }
    try:
        st.mailer.send(kind, address, values)
    except (OSError, smtplib.SMTPException) as exc:
        what = {"confirmation": "confirmation", "recovery": "recovery", "email_change": "email change"}[kind]
        current_app.logger.warning("auth stand-in: sending the %s e-mail failed: %s", what, exc)
        raise GoTrueError(500, "unexpected_failure", f"Error sending {what} email") from None


# -- sign-up and sign-in ----------------------------------------------------------------------
@bp.post("/signup")
def signup():
    st = state()
    if not st.settings.enable_signup:
        raise errors.unprocessable("signup_disabled", "Signups not allowed for this instance")
    params = body()
    email, phone, password = text(params, "email"), text(params, "phone"), text(params, "password")
    data = params.get("data") or {}
    if not isinstance(data, dict):
        raise errors.bad_request("bad_json", "Could not parse request body as JSON: data must be an object")
    if not password:
        raise errors.validation("Signup requires a valid password")
    check_password(password)
    if email and phone:
        raise errors.validation("Only an email address or phone number should be provided on signup.")
    challenge = pkce_challenge(params)
    if phone:
        raise errors.bad_request("phone_provider_disabled", "Phone signups are disabled")
    if not email:
        raise errors.validation("Sign up only available with email provider")
    email = valid_email(email)
    hashed = hash_password(password)  # slow on purpose: outside the transaction
    try:
        with st.store.tx() as conn:
            user = st.store.user_by_email(conn, email, lock=True)
            if user is not None and user["email_confirmed_at"] is not None:
                if st.settings.autoconfirm:
                    raise errors.unprocessable("user_already_exists", "User already registered")
                # With confirmations on, GoTrue answers as if the address were new, so sign-up
                # reveals nothing about who has an account; nothing is sent.
                return jsonify(_obfuscated_user(email, data))
            if user is None:
                user = st.store.create_user(conn, email, hashed, data)
            user_id = str(user["id"])
            if not st.settings.autoconfirm:
                if challenge:
                    st.store.start_flow(conn, user_id, "email/signup", *challenge)
                send_one_time_token(conn, user, "confirmation", pkce=challenge is not None)
                return jsonify(user_json(st.store.user_by_id(conn, user_id)))
            st.store.confirm_email(conn, user_id)
            return jsonify(new_session(conn, user_id, "password"))
    except psycopg.errors.UniqueViolation:
        # Two sign-ups of one address at once: the other one won.
        raise errors.unprocessable("user_already_exists", "User already registered") from None


def _obfuscated_user(email: str, data: dict) -> dict:
    stamp = now().isoformat().replace("+00:00", "Z")
    return {
        "id": str(uuid.uuid4()),
        "aud": "authenticated",
        "role": "",
        "email": email,
        "phone": "",
        "confirmation_sent_at": stamp,
        "app_metadata": {"provider": "email", "providers": ["email"]},
        "user_metadata": data,
        "identities": [],
        "created_at": stamp,
        "updated_at": stamp,
        "is_anonymous": False,
    }


@bp.post("/token")
def token():
    grant = request.args.get("grant_type") or request.form.get("grant_type") or ""
    handler = {"password": _password_grant, "refresh_token": _refresh_grant, "pkce": _pkce_grant}.get(grant)
    if handler is None:
        raise errors.bad_request("invalid_credentials", "unsupported_grant_type")
    return jsonify(handler(body()))


def _password_grant(params: dict) -> dict:
    st = state()
    email, phone, password = text(params, "email"), text(params, "phone"), text(params, "password")
    if email and phone:
        raise errors.validation("Only an email address or phone number should be provided on login.")
    if phone:
        raise errors.unprocessable("phone_provider_disabled", "Phone logins are disabled")
    if not email:
        raise errors.validation("missing email or phone")
    with st.store.tx() as conn:
        user = st.store.user_by_email(conn, email)
    if user is None or not user["encrypted_password"]:
        raise errors.invalid_credentials()
    if is_banned(user):
        raise errors.bad_request("user_banned", "User is banned")
    if not password_matches(password, user["encrypted_password"]):
        raise errors.invalid_credentials()
    if user["email_confirmed_at"] is None:
        raise errors.bad_request("email_not_confirmed", "Email not confirmed")
    with st.store.tx() as conn:
        response = new_session(conn, str(user["id"]), "password")
    weakness = password_weakness(password)
    if weakness:
        # Signed in all the same; GoTrue tells the client the password no longer meets the policy.
        response["weak_password"] = {"message": weakness[0], "reasons": weakness[1]}
    return response


def _refresh_grant(params: dict) -> dict:
    st = state()
    refresh_token = text(params, "refresh_token")
    if not _REFRESH_TOKEN.match(refresh_token):
        raise errors.validation("Refresh token is not valid")
    user, session_id, issued = st.store.refresh(refresh_token, st.settings.refresh_token_reuse_interval)
    with st.store.tx() as conn:
        return session_response(conn, str(user["id"]), session_id, issued)


def _pkce_grant(params: dict) -> dict:
    st = state()
    auth_code, verifier = text(params, "auth_code"), text(params, "code_verifier")
    if not auth_code or not verifier:
        raise errors.validation("invalid request: both auth code and code verifier should be non-empty")
    with st.store.tx() as conn:
        flow = st.store.take_flow(conn, auth_code)
        if flow is None or flow["user_id"] is None:
            raise GoTrueError(404, "flow_state_not_found", "invalid flow state, no valid flow state found")
        if now() > flow["created_at"] + st.flow_state_expiry:
            raise errors.unprocessable("flow_state_expired", "invalid flow state, flow state has expired")
        if not pkce_matches(flow["code_challenge"], flow["code_challenge_method"], verifier):
            raise errors.bad_request(
                "bad_code_verifier", "code challenge does not match previously saved code verifier"
            )
        return new_session(conn, str(flow["user_id"]), flow["authentication_method"])


# -- the signed-in user -----------------------------------------------------------------------
@bp.get("/user")
def get_user():
    claims, user, _ = authenticate()
    if claims.get("aud") != user["aud"]:
        raise errors.validation("Token audience doesn't match request audience")
    return jsonify(user_json(user))


@bp.put("/user")
def update_user():
    st = state()
    _, user, session_id = authenticate()
    params = body()
    email, phone = text(params, "email"), text(params, "phone")
    password = params.get("password")
    if password is not None and not isinstance(password, str):
        raise errors.bad_request("bad_json", "Could not parse request body as JSON: password must be a string")
    data = params.get("data")
    if data is not None and not isinstance(data, dict):
        raise errors.bad_request("bad_json", "Could not parse request body as JSON: data must be an object")
    if email:
        email = valid_email(email)
    if phone:
        raise errors.unprocessable("phone_provider_disabled", "Phone logins are disabled")
    if password is not None:
        check_password(password)
    if params.get("app_metadata") is not None:
        raise errors.forbidden("not_admin", "Updating app_metadata requires admin privileges")
    user_id = str(user["id"])
    changing_email = bool(email) and email != (user["email"] or "")
    new_hash = None
    if password:
        if password_matches(password, user["encrypted_password"]):
            raise errors.unprocessable("same_password", "New password should be different from the old password.")
        new_hash = hash_password(password)
    with st.store.tx() as conn:
        if changing_email and st.store.email_taken(conn, email, user_id):
            raise errors.unprocessable("email_exists", "A user with this email address has already been registered")
        if new_hash is not None:
            st.store.set_password(conn, user_id, new_hash)
            # Other sessions must sign in again with the new password; this one stays.
            st.store.end_sessions(conn, user_id, session_id, "others" if session_id else "global")
        if data is not None:
            st.store.merge_user_metadata(conn, user_id, data)
        if changing_email:
            challenge = pkce_challenge(params)
            if challenge:
                st.store.start_flow(conn, user_id, "email_change", *challenge)
            send_one_time_token(
                conn,
                st.store.user_by_id(conn, user_id, lock=True),
                "email_change",
                pkce=challenge is not None,
                new_email=email,
            )
        return jsonify(user_json(st.store.user_by_id(conn, user_id)))


@bp.post("/logout")
def logout():
    st = state()
    _, user, session_id = authenticate()
    scope = request.args.get("scope", "") or "global"
    if scope not in ("global", "local", "others"):
        raise errors.validation(f'Unsupported logout scope "{scope}"')
    with st.store.tx() as conn:
        st.store.end_sessions(conn, str(user["id"]), session_id, scope)
    return "", 204


# -- e-mailed one-time tokens -----------------------------------------------------------------
@bp.post("/recover")
def recover():
    st = state()
    params = body()
    email = text(params, "email")
    if not email:
        raise errors.validation("Password recovery requires an email")
    email = valid_email(email)
    challenge = pkce_challenge(params)
    with st.store.tx() as conn:
        user = st.store.user_by_email(conn, email, lock=True)
        if user is None:
            return jsonify({})  # the same answer as for a known address
        if challenge:
            st.store.start_flow(conn, str(user["id"]), "recovery", *challenge)
        send_one_time_token(conn, user, "recovery", pkce=challenge is not None)
    return jsonify({})


def _verified_user(conn, verify_type: str, hashed: str, by_hash: bool, email: str = "") -> tuple[dict, str]:
    """The user the one-time token belongs to, and the token kind it matched."""
    st = state()
    if verify_type not in VERIFY_TYPES:
        raise errors.validation("Unsupported verification type" if not by_hash else "Invalid email verification type")
    kinds = ["confirmation", "recovery"] if verify_type == "email" else [VERIFY_TYPES[verify_type][0]]
    for kind in kinds:
        if by_hash:
            user = st.store.user_by_token_hash(conn, kind, hashed)
            invalid = errors.forbidden("otp_expired", "Email link is invalid or has expired")
        elif kind == "email_change":
            user = conn.execute(
                "select id from auth.users where lower(email_change) = lower(%s) and "
                "email_change_token_new in (%s, %s) for update",
                (email, hashed, PKCE_PREFIX + hashed),
            ).fetchone()
            user = st.store.user_by_id(conn, str(user["id"])) if user else None
            invalid = errors.forbidden("otp_expired", "Token has expired or is invalid")
        else:
            user = st.store.user_by_email(conn, email, lock=True)
            column = {"confirmation": "confirmation_token", "recovery": "recovery_token"}[kind]
            if user is not None and user[column] not in (hashed, PKCE_PREFIX + hashed):
                user = None
            invalid = errors.forbidden("otp_expired", "Token has expired or is invalid")
        if user is None:
            continue
        sent_at = user[SENT_AT[kind]]
        if sent_at is None or now() > sent_at + timedelta(seconds=st.settings.otp_expiry):
            raise invalid
        if is_banned(user):
            raise errors.forbidden("user_banned", "User is banned")
        return user, kind
    raise invalid


def _apply_verification(conn, user: dict, kind: str) -> None:
    st, user_id = state(), str(user["id"])
    if kind == "confirmation":
        st.store.confirm_email(conn, user_id)
    elif kind == "recovery":
        st.store.clear_recovery(conn, user_id)
        if user["email_confirmed_at"] is None:
            st.store.confirm_email(conn, user_id)  # the link reached the inbox, so the address is theirs
    else:
        if st.store.email_taken(conn, user["email_change"], user_id):
            raise errors.unprocessable("email_exists", "A user with this email address has already been registered")
        st.store.confirm_email_change(conn, user_id)


@bp.post("/verify")
def verify():
    st = state()
    params = body()
    verify_type, otp, hashed = text(params, "type"), text(params, "token"), text(params, "token_hash")
    email, phone = text(params, "email"), text(params, "phone")
    if not verify_type:
        raise errors.validation("Verify requires a verification type")
    if bool(otp) == bool(hashed):
        raise errors.validation("Verify requires either a token or a token hash")
    if otp:
        if phone and not email:
            raise errors.validation("Phone verification is not available: the phone provider is disabled")
        if not email or phone:
            raise errors.validation("Only an email address or phone number should be provided on verify")
        if not _EMAIL.match(email):
            raise errors.unprocessable("validation_failed", "Invalid email format")
        email = email.lower()
        hashed = make_token_hash(email, otp)
    elif email or phone or text(params, "redirect_to"):
        raise errors.validation("Only the token_hash and type should be provided")
    with st.store.tx() as conn:
        user, kind = _verified_user(conn, verify_type, hashed, by_hash=not otp, email=email)
        _apply_verification(conn, user, kind)
        return jsonify(new_session(conn, str(user["id"]), "otp"))


@bp.get("/verify")
def verify_link():
    """The link in e-mails: verify, then send the browser on with a session (implicit) or a code (PKCE)."""
    st = state()
    verify_type, link_token = request.args.get("type", ""), request.args.get("token", "")
    if not verify_type:
        raise errors.validation("Verify requires a verification type")
    if not link_token:
        raise errors.validation("Verify requires a token or a token hash")
    target = referrer()
    pkce = link_token.startswith(PKCE_PREFIX)
    try:
        with st.store.tx() as conn:
            user, kind = _verified_user(conn, verify_type, link_token, by_hash=True)
            _apply_verification(conn, user, kind)
            if pkce:
                code = st.store.issue_auth_code(conn, str(user["id"]), VERIFY_TYPES[verify_type][1])
                if code is None:
                    raise errors.unprocessable("flow_state_not_found", "No valid flow state found for user.")
                return redirect(_with_query(target, {"code": code}), 303)
            session = new_session(conn, str(user["id"]), "otp")
    except GoTrueError as exc:
        return redirect(_error_redirect(target, exc, pkce), 303)
    fragment = urlencode(
        {
            "access_token": session["access_token"],
            "expires_at": session["expires_at"],
            "expires_in": session["expires_in"],
            "refresh_token": session["refresh_token"],
            "token_type": "bearer",
            "type": verify_type,
            "sb": "",
        }
    )
    return redirect(f"{target}#{fragment}", 303)


def _with_query(url: str, extra: dict) -> str:
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode(extra)) if q)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def _error_redirect(url: str, exc: GoTrueError, pkce: bool) -> str:
    oauth = {400: "invalid_request", 401: "unauthorized_client", 403: "access_denied", 500: "server_error"}
    values = {
        k: v
        for k, v in (("error", oauth.get(exc.status)), ("error_code", exc.code), ("error_description", exc.message))
        if v
    }
    if pkce:
        url = _with_query(url, values)
    return f"{url.split('#')[0]}#{urlencode({**values, 'sb': ''})}"


# -- what the project exposes -----------------------------------------------------------------
@bp.get("/settings")
def settings():
    st = state()
    providers = [
        "anonymous_users",
        "apple",
        "azure",
        "bitbucket",
        "discord",
        "facebook",
        "snapchat",
        "figma",
        "fly",
        "github",
        "gitlab",
        "google",
        "keycloak",
        "kakao",
        "linkedin",
        "linkedin_oidc",
        "notion",
        "spotify",
        "slack",
        "slack_oidc",
        "workos",
        "twitch",
        "twitter",
        "email",
        "phone",
        "zoom",
    ]
    return jsonify(
        {
            "external": {p: p == "email" for p in providers},
            "disable_signup": not st.settings.enable_signup,
            "mailer_autoconfirm": st.settings.autoconfirm,
            "phone_autoconfirm": False,
            "sms_provider": "",
            "saml_enabled": False,
            "saml_private_key_next_configured": False,
            "passkeys_enabled": False,
        }
    )


@bp.get("/health")
def health():
    return jsonify(
        {
            "version": "numeraloop-standin",
            "name": "GoTrue",
            "description": "NumeraLoop's local stand-in for Supabase Auth",
        }
    )


@bp.get("/.well-known/jwks.json")
def jwks():
    resp = jsonify(state().signer.jwks())
    resp.headers["Cache-Control"] = "public, max-age=600"
    return resp
