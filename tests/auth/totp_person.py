"""A test user who signs in with TOTP codes, as a person with an authenticator would."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pyotp


@dataclass
class TotpPerson:
    username: str
    user_id: str
    secret: str
    last_step: int = -1

    def code(self) -> str:
        """A code for a step not used yet (each code works once; the server accepts the
        current step and one either side), waiting for the next step when needed."""
        while True:
            current = int(time.time() // 30)
            step = max(current, self.last_step + 1)
            if step <= current + 1:
                break
            time.sleep((current + 1) * 30 - time.time() + 0.2)
        self.last_step = step
        return pyotp.TOTP(self.secret).at(step * 30)
