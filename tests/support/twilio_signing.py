"""Requests signed exactly as Twilio signs them (twilio-python's RequestValidator)."""

from __future__ import annotations

import secrets

import requests
from twilio.request_validator import RequestValidator


def new_sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


def signed_post(url: str, params: dict, auth_token: str, signature: str | None = None, **kwargs):
    sig = signature if signature is not None else RequestValidator(auth_token).compute_signature(url, params)
    return requests.post(url, data=params, headers={"X-Twilio-Signature": sig}, timeout=15, **kwargs)
