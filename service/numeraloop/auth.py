"""Supabase access tokens for /api/v1: verified signature, exp, aud, sub and, with
SUPABASE_URL configured, iss (`<SUPABASE_URL>/auth/v1`, as GoTrue issues it), so a token
another project's Auth signed with a shared or leaked key is still refused.

Algorithms come from configuration only (HS256 with SUPABASE_JWT_SECRET, or ES256/RS256
keys from SUPABASE_JWKS_URL); a token's own `alg` header never chooses, so `none` and
algorithm-confusion tokens fail. Anonymous sign-ins (`is_anonymous`, or the anon key's
role `anon`) are not users of this API: 401 anonymous_user.
"""

from __future__ import annotations

from typing import Any

import jwt
from flask import current_app, g, request

from .config import Config
from .errors import ApiError


def expected_issuer(config: Config) -> str | None:
    """The `iss` GoTrue puts in the project's access tokens, or None when SUPABASE_URL is not configured."""
    base = config.supabase_url.strip().rstrip("/")
    return f"{base}/auth/v1" if base else None


def is_anonymous(claims: dict[str, Any]) -> bool:
    return claims.get("is_anonymous") in (True, "true") or claims.get("role") == "anon"


class TokenVerifier:
    def __init__(self, config: Config):
        self.algorithms = list(config.jwt_algorithms)
        self.audience = config.jwt_audience
        self.issuer = expected_issuer(config)
        self.secret = config.supabase_jwt_secret
        # PyJWKClient caches the key set and refetches on an unknown kid.
        self.jwks = (
            jwt.PyJWKClient(config.supabase_jwks_url, cache_keys=True, lifespan=600)
            if config.supabase_jwks_url
            else None
        )

    def _key_for(self, token: str):
        if self.jwks is not None:
            try:
                return self.jwks.get_signing_key_from_jwt(token).key
            except jwt.PyJWKClientError as exc:
                raise ApiError(401, "invalid_token", "The access token's signing key is not known.") from exc
        if not self.secret:
            raise ApiError(503, "auth_not_configured", "Token verification is not configured on this server.")
        return self.secret

    def verify(self, token: str) -> dict[str, Any]:
        try:
            key = self._key_for(token)
            claims = jwt.decode(
                token,
                key=key,
                algorithms=self.algorithms,
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["exp", "sub", "aud"] + (["iss"] if self.issuer else [])},
                leeway=5,
            )
        except jwt.ExpiredSignatureError:
            raise ApiError(401, "token_expired", "The access token has expired; sign in again.") from None
        except jwt.InvalidAudienceError:
            raise ApiError(401, "invalid_token", "The access token is not meant for this API.") from None
        except jwt.InvalidIssuerError:
            raise ApiError(401, "invalid_token", "The access token was not issued by this project's Auth.") from None
        except jwt.InvalidTokenError:
            raise ApiError(401, "invalid_token", "The access token is not valid.") from None
        if is_anonymous(claims):
            raise ApiError(401, "anonymous_user", "Anonymous sign-ins cannot use this API; sign in with an account.")
        if claims.get("role", "authenticated") != "authenticated":
            raise ApiError(401, "invalid_token", "Only signed-in users' tokens are accepted here.")
        return claims


def bearer_token() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "missing_token", "Send a Supabase access token as 'Authorization: Bearer <token>'.")
    return token.strip()


def authenticate_request() -> None:
    """before_request hook: the rest of the request runs with g.claims and g.user_id of a verified caller."""
    verifier: TokenVerifier = current_app.extensions["numeraloop.tokens"]
    claims = verifier.verify(bearer_token())
    claims.setdefault("role", "authenticated")
    g.claims = claims
    g.user_id = claims["sub"]
