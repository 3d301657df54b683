"""Messaging: inbound SMS/MMS (inbound.py), delivery status callbacks (status.py), sending
from the shared inbox (send.py), and segment counting (segments.py)."""
