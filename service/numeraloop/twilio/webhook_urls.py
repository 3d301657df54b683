"""The URLs NumeraLoop hands to Twilio, written once: number webhooks, the TwiML app's voice
URL and status callbacks. Each is PUBLIC_BASE_URL + the route that answers it, which is
also the URL Twilio signs."""

from __future__ import annotations

from urllib.parse import urlencode

MESSAGING_INBOUND = "/twilio/messaging/inbound"
MESSAGING_STATUS = "/twilio/messaging/status"
VOICE_INBOUND = "/twilio/voice/inbound"
VOICE_WHISPER = "/twilio/voice/whisper"
VOICE_BROWSER = "/twilio/voice/browser"
VOICE_STATUS = "/twilio/voice/status"


def url(public_base_url: str, path: str, **query) -> str:
    return f"{public_base_url}{path}" + (f"?{urlencode(query)}" if query else "")


def number_webhooks(public_base_url: str) -> dict[str, str]:
    """What an owned number is configured with, in twilio-python's parameter names."""
    return {
        "sms_url": url(public_base_url, MESSAGING_INBOUND),
        "sms_method": "POST",
        "voice_url": url(public_base_url, VOICE_INBOUND),
        "voice_method": "POST",
        "status_callback": url(public_base_url, VOICE_STATUS),
        "status_callback_method": "POST",
    }


def message_status(public_base_url: str, **query) -> str:
    return url(public_base_url, MESSAGING_STATUS, **query)


def browser_voice(public_base_url: str) -> str:
    return url(public_base_url, VOICE_BROWSER)


def voice_status(public_base_url: str, **query) -> str:
    return url(public_base_url, VOICE_STATUS, **query)


def whisper(public_base_url: str, **query) -> str:
    return url(public_base_url, VOICE_WHISPER, **query)
