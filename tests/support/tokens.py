"""Supabase-style access tokens for tests, with the claims GoTrue gives them."""

from __future__ import annotations

import time

import jwt

TEST_JWT_SECRET = "test-jwt-secret-that-is-long-enough-for-hs256-0123456789"
# The service under test is configured with this SUPABASE_URL (never contacted: .test does not resolve),
# so it checks every token's iss against TEST_ISSUER.
TEST_SUPABASE_URL = "http://supabase.numeraloop.test"
TEST_ISSUER = f"{TEST_SUPABASE_URL}/auth/v1"


def access_token(
    sub: str,
    *,
    secret: str = TEST_JWT_SECRET,
    expires_in: int = 3600,
    aud="authenticated",
    role: str = "authenticated",
    algorithm: str = "HS256",
    headers: dict | None = None,
    iss: str | None = TEST_ISSUER,
    **extra,
) -> str:
    now = int(time.time())
    claims = {
        "iss": iss,
        "sub": sub,
        "aud": aud,
        "role": role,
        "iat": now,
        "exp": now + expires_in,
        "is_anonymous": False,
        **extra,
    }
    for optional in ("aud", "iss"):
        if claims[optional] is None:
            claims.pop(optional)
    return jwt.encode(claims, secret, algorithm=algorithm, headers=headers)
