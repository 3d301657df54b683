"""A workspace's Twilio client, and Twilio failures turned into clean API errors."""

from __future__ import annotations

import logging
from contextlib import contextmanager

import requests
from twilio.base.exceptions import TwilioRestException

from ..config import Config
from ..errors import ApiError
from .client import make_twilio_client, twilio_error
from .credentials import TwilioCredentials

log = logging.getLogger(__name__)


def client_for(creds: TwilioCredentials, config: Config):
    """Prefer the API key made at connect time; fall back to the auth token (older connections)."""
    if creds.api_key_sid and creds.api_key_secret:
        return make_twilio_client(
            creds.account_sid, creds.api_key_sid, creds.api_key_secret, config.twilio_api_base_url
        )
    return make_twilio_client(creds.account_sid, creds.account_sid, creds.auth_token, config.twilio_api_base_url)


@contextmanager
def twilio_call(what: str):
    """Run Twilio calls; their failures become ApiErrors carrying Twilio's code and a fitting status."""
    try:
        yield
    except (TwilioRestException, requests.exceptions.RequestException) as exc:
        err = twilio_error(exc)
        log.warning("Twilio call failed (%s): %s %s", what, err.code, err.twilio_code or "")
        extra = {"twilio_code": err.twilio_code} if err.twilio_code else {}
        raise ApiError(err.http_status, err.code, f"Could not {what}: {err.message}", **extra) from None
