"""Supabase-style access tokens for tests."""

from __future__ import annotations

import time

import jwt

TEST_JWT_SECRET = "test-jwt-secret-that-is-long-enough-for-hs256-0123456789"


def access_token(sub: str, *, secret: str = TEST_JWT_SECRET, expires_in: int = 3600, aud="authenticated",
                 role: str = "authenticated", algorithm: str = "HS256", headers: dict | None = None, **extra) -> str:
    now = int(time.time())
    claims = {"sub": sub, "aud": aud, "role": role, "iat": now, "exp": now + expires_in, **extra}
    if aud is None:
        claims.pop("aud")
    return jwt.encode(claims, secret, algorithm=algorithm, headers=headers)
