"""What Twilio's message error codes mean, in a sentence a person can act on.

Shown beside a failed message in the inbox and in campaign reports; the codes are Twilio's
(https://www.twilio.com/docs/api/errors).
"""

from __future__ import annotations

MEANINGS = {
    21211: "The number is not a valid phone number.",
    21408: "Texting this country is not enabled on the Twilio account.",
    21610: "The recipient has unsubscribed (replied STOP); they must text START to receive messages again.",
    21612: "Twilio cannot route a message between these two numbers.",
    21614: "The number is not a mobile number and cannot receive texts.",
    21617: "The message is longer than 1,600 characters.",
    30001: "Twilio's queue overflowed; try again later.",
    30002: "The Twilio account is suspended.",
    30003: "The recipient's phone is unreachable (switched off or out of coverage).",
    30004: "The recipient's carrier blocked this message.",
    30005: "The number does not exist or is no longer in service.",
    30006: "The number is a landline or cannot receive texts.",
    30007: "The carrier filtered the message as spam; review its content and sender registration.",
    30008: "The carrier reported an unknown error; try again later.",
    30034: "The sending number is not registered for A2P 10DLC messaging in the US.",
}


def meaning(code: int | None) -> str | None:
    if code is None:
        return None
    return MEANINGS.get(int(code), f"Twilio error {code}: see twilio.com/docs/errors/{code}.")
