"""Failed sign-ins counted per user name and client address.

After ``limit`` failures of one (user name, client) pair within ``window`` seconds, that pair
is refused, even with the right password, until its oldest failure leaves the window. A
success clears the pair's count. Counting per pair, not per account alone, keeps a guesser
from locking a colleague out from elsewhere (OWASP Authentication Cheat Sheet, "Login
Throttling"; NIST SP 800-63B 5.2.2 asks for at most 100 consecutive failures per account).

>>> t = LoginThrottle(limit=2, window=60, clock=lambda: 0.0)
>>> t.failed("cm", "10.0.0.1"); t.failed("CM", "10.0.0.1")
>>> t.wait("cm", "10.0.0.1"), t.wait("cm", "10.0.0.2")
(60.0, 0.0)
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from popweave.errors import PopweaveError


class TooManyAttempts(PopweaveError):
    """Sign-in refused for now; ``retry_after`` is in seconds."""

    def __init__(self, retry_after: float) -> None:
        self.retry_after = max(1, int(retry_after + 0.999))
        minutes = -(-self.retry_after // 60)
        super().__init__(
            f"too many failed sign-ins; try again in {minutes} minute{'s' * (minutes != 1)}"
        )


class LoginThrottle:
    """Failures per (user name, client) in a sliding window; thread-safe, in memory (one
    process; a restart forgets them)."""

    def __init__(
        self, limit: int = 5, window: float = 900.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("limit must be at least 1 and window positive")
        self.limit, self.window, self.clock = limit, window, clock
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def wait(self, username: str, client: str) -> float:
        """Seconds until this pair may try again (0: now)."""
        with self._lock:
            times = self._recent(_key(username, client))
            if times is None or len(times) < self.limit:
                return 0.0
            return times[0] + self.window - self.clock()

    def check(self, username: str, client: str) -> None:
        """:class:`TooManyAttempts` if the pair must wait."""
        wait = self.wait(username, client)
        if wait > 0:
            raise TooManyAttempts(wait)

    def failed(self, username: str, client: str) -> None:
        with self._lock:
            key = _key(username, client)
            self._recent(key)
            self._failures.setdefault(key, deque()).append(self.clock())
            if len(self._failures) > 100_000:  # bound the memory a flood of names can take
                for k in list(self._failures):
                    self._recent(k)

    def succeeded(self, username: str, client: str) -> None:
        with self._lock:
            self._failures.pop(_key(username, client), None)

    def _recent(self, key: tuple[str, str]) -> deque[float] | None:
        """The pair's failures within the window (None, and forgotten, if there are none)."""
        times = self._failures.get(key)
        horizon = self.clock() - self.window
        while times and times[0] <= horizon:
            times.popleft()
        if not times:
            self._failures.pop(key, None)
            return None
        return times


def _key(username: str, client: str) -> tuple[str, str]:
    return username.strip().lower(), client
