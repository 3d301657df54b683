"""One running sandbox: its state, its timings and the dispatcher that delivers what it
schedules. Every module that acts takes this object."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from .state import SCENARIOS, SandboxState
from .webhooks import Dispatcher


@dataclass
class SandboxSettings:
    """Timings of the things the sandbox does on its own; tests shorten them, never lengthen."""

    step_delay: float = 0.05  # between the status steps of one message
    callback_attempts: int = 3  # tries per status callback (connection errors and 5xx retried)
    retry_backoff: float = 0.1  # first retry wait; doubles per attempt
    callback_timeout: float = 5.0  # seconds for the application to answer a callback
    webhook_timeout: float = 10.0  # seconds for an inbound webhook (TwiML) to answer
    dispatcher_workers: int = 8
    # How a message with no scenario of its own plays out; "none" sends no status callbacks (benchmarks).
    default_scenario: str = "delivered"


class Sandbox:
    """One running sandbox: what it remembers and what it has scheduled."""

    def __init__(self, state: SandboxState | None = None, settings: SandboxSettings | None = None):
        self.state = state or SandboxState()
        self.settings = settings or SandboxSettings()
        self.dispatcher = Dispatcher(self.settings.dispatcher_workers)

    def update_settings(self, **changes) -> SandboxSettings:
        known = {f.name for f in dataclasses.fields(SandboxSettings)} - {"dispatcher_workers"}
        unknown = set(changes) - known
        if unknown:
            raise ValueError(f"unknown settings {sorted(unknown)}; known: {sorted(known)}")
        if "default_scenario" in changes and changes["default_scenario"] not in SCENARIOS:
            raise ValueError(f"default_scenario must be one of {', '.join(sorted(SCENARIOS))}")
        for name, value in changes.items():
            setattr(self.settings, name, type(getattr(self.settings, name))(value))
        return self.settings

    def reset(self) -> None:
        """Forget everything and drop scheduled callbacks; settings stay."""
        self.dispatcher.close()
        self.state.reset()
        self.dispatcher = Dispatcher(self.settings.dispatcher_workers)

    def close(self) -> None:
        self.dispatcher.close()
