"""Outbound webhooks: the workspace's own endpoints told about message.received and
message.status, signed, retried with backoff, delivered by the worker (never inside a
Twilio request)."""
