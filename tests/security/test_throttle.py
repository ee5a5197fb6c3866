"""The sign-in throttle: failures per (user name, client) in a sliding window."""

from __future__ import annotations

import doctest

import pytest

from popweave.security import throttle
from popweave.security.throttle import LoginThrottle, TooManyAttempts


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_doctest() -> None:
    assert doctest.testmod(throttle).failed == 0


def test_the_limit_the_window_and_a_success() -> None:
    clock = Clock()
    t = LoginThrottle(limit=3, window=600, clock=clock)
    for _ in range(2):
        t.failed("cm", "1.2.3.4")
        clock.now += 10
    t.check("cm", "1.2.3.4")  # two failures: still allowed
    t.failed(" CM ", "1.2.3.4")  # the same name, however typed
    with pytest.raises(TooManyAttempts, match="try again in 10 minutes") as exc:
        t.check("cm", "1.2.3.4")
    assert exc.value.retry_after == 600 - 20
    # Another client, or another name, is not affected.
    t.check("cm", "5.6.7.8")
    t.check("pm", "1.2.3.4")
    # The window slides: once the first failure is 600 s old, one more try is allowed.
    clock.now += 600 - 20
    assert t.wait("cm", "1.2.3.4") == 0
    t.failed("cm", "1.2.3.4")
    assert t.wait("cm", "1.2.3.4") == pytest.approx(10)
    # A success clears the pair.
    clock.now += 10
    t.succeeded("cm", "1.2.3.4")
    for _ in range(2):
        t.failed("cm", "1.2.3.4")
    assert t.wait("cm", "1.2.3.4") == 0


def test_rules_are_checked() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        LoginThrottle(limit=0)
    assert str(TooManyAttempts(30)) == "too many failed sign-ins; try again in 1 minute"
