"""NumeraLoop: a business's Twilio numbers, inbox, calls, campaigns and billing in one place."""

__version__ = "0.1.0"
