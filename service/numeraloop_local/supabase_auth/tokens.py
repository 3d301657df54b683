"""Access tokens as GoTrue issues them, and checking the ones presented back.

ES256: a P-256 key whose public half is the one entry of /.well-known/jwks.json, named by
`kid` in every token's header, as a Supabase project with signing keys does. HS256: the
project's JWT secret, no `kid`, as legacy projects sign (their JWKS is empty). Either way a
token the stand-in issued, signed with the secret, is accepted back, as GoTrue does.
"""

from __future__ import annotations

import json
import time
import uuid

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from . import errors
from .settings import AuthSettings


class Signer:
    def __init__(self, settings: AuthSettings):
        self.algorithm = settings.signing
        self.secret = settings.jwt_secret
        self.expiry = settings.jwt_expiry
        self.private_key = None
        self.kid = None
        if self.algorithm == "ES256":
            if settings.signing_key_pem:
                key = serialization.load_pem_private_key(settings.signing_key_pem.encode(), password=None)
                if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
                    raise ValueError("the signing key must be a P-256 (prime256v1) EC private key")
                self.private_key = key
            else:
                self.private_key = ec.generate_private_key(ec.SECP256R1())
            self.kid = str(uuid.uuid4())

    def jwks(self) -> dict:
        if self.private_key is None:
            return {"keys": []}
        jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.private_key.public_key()))
        return {
            "keys": [
                {
                    "alg": "ES256",
                    "crv": jwk["crv"],
                    "ext": True,
                    "key_ops": ["verify"],
                    "kid": self.kid,
                    "kty": "EC",
                    "use": "sig",
                    "x": jwk["x"],
                    "y": jwk["y"],
                }
            ]
        }

    def issue(self, issuer: str, user: dict, session_id: str, amr: list[dict]) -> tuple[str, int]:
        """A signed access token for `user` (the API's user JSON) in `session_id`, and its exp."""
        now = int(time.time())
        exp = now + self.expiry
        claims = {
            "iss": issuer,
            "sub": user["id"],
            "aud": user["aud"],
            "exp": exp,
            "iat": now,
            "email": user["email"] or "",
            "phone": user["phone"] or "",
            "app_metadata": user["app_metadata"],
            "user_metadata": user["user_metadata"],
            "role": user["role"],
            "aal": "aal1",
            "amr": amr,
            "session_id": session_id,
            "is_anonymous": user["is_anonymous"],
        }
        if self.algorithm == "ES256":
            token = jwt.encode(claims, self.private_key, algorithm="ES256", headers={"kid": self.kid})
        else:
            token = jwt.encode(claims, self.secret, algorithm="HS256")
        return token, exp

    def verify(self, token: str) -> dict:
        """The claims of a token this stand-in signed; GoTrue's 403 bad_jwt otherwise."""
        try:
            header = jwt.get_unverified_header(token)
            if header.get("alg") == "ES256" and self.private_key is not None and header.get("kid") == self.kid:
                key, algorithm = self.private_key.public_key(), "ES256"
            elif header.get("alg") == "HS256" and self.secret:
                key, algorithm = self.secret, "HS256"
            else:
                raise jwt.InvalidTokenError(
                    f"unrecognized JWT kid {header.get('kid')} for algorithm {header.get('alg')}"
                )
            # GoTrue checks the audience per endpoint, not here.
            return jwt.decode(token, key=key, algorithms=[algorithm], options={"verify_aud": False})
        except jwt.ExpiredSignatureError:
            raise errors.forbidden(
                "bad_jwt",
                "invalid JWT: unable to parse or verify signature, token has invalid claims: token is expired",
            ) from None
        except jwt.InvalidTokenError as exc:
            raise errors.forbidden("bad_jwt", f"invalid JWT: unable to parse or verify signature, {exc}") from None
