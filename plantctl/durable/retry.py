"""The one retry policy of the service's database writers (journals, audit replay, historian jobs), via tenacity."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import psycopg
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_never, wait_exponential

log = logging.getLogger(__name__)

DATABASE_AWAY: tuple[type[BaseException], ...] = (psycopg.OperationalError, psycopg.InterfaceError, OSError,
                                                  TimeoutError)
"""Errors that mean "the database cannot be reached now": retry (psycopg_pool.PoolTimeout is an OperationalError).
Any other database error is about the content, and retrying it would block the writer for ever."""


def retrying(what: str, retry_on: tuple[type[BaseException], ...], *, min_delay_s: float = 0.1,
             max_delay_s: float = 5.0, on_failure: Callable[[BaseException], None] | None = None,
             logger: logging.Logger = log) -> AsyncRetrying:
    """Retry `retry_on` errors for ever with exponential backoff (min_delay_s doubling to max_delay_s).

    Logs the first failure of an episode as a warning and later ones at debug (no log flood during a
    long outage); `on_failure` sees every failure (counters, spilling to a durable queue).
    """

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        if exc is None:
            return
        if on_failure is not None:
            on_failure(exc)
        delay = state.upcoming_sleep
        level = logging.WARNING if state.attempt_number == 1 else logging.DEBUG
        logger.log(level, "%s failed (%s: %s); retrying in %.1f s (attempt %d)", what, type(exc).__name__, exc,
                   delay, state.attempt_number)

    return AsyncRetrying(wait=wait_exponential(multiplier=min_delay_s, min=min_delay_s, max=max_delay_s),
                         retry=retry_if_exception_type(retry_on), stop=stop_never, before_sleep=before_sleep,
                         reraise=True)


async def retry_for_ever(what: str, step: Callable[[], Awaitable[None]],
                         retry_on: tuple[type[BaseException], ...], *, min_delay_s: float = 0.1,
                         max_delay_s: float = 5.0, on_failure: Callable[[BaseException], None] | None = None,
                         logger: logging.Logger = log) -> None:
    """Run `step` until it succeeds once, with `retrying`'s backoff and logging between failures."""
    async for attempt in retrying(what, retry_on, min_delay_s=min_delay_s, max_delay_s=max_delay_s,
                                  on_failure=on_failure, logger=logger):
        with attempt:
            await step()


class Backoff:
    """The same exponential delays for a writer that must not block while it waits (it spools meanwhile)."""

    def __init__(self, min_delay_s: float, max_delay_s: float) -> None:
        self._wait = wait_exponential(multiplier=min_delay_s, min=min_delay_s, max=max_delay_s)
        self._state = RetryCallState(AsyncRetrying(), None, (), {})

    def next_delay(self) -> float:
        """The wait before the next attempt: min_delay_s, then doubling up to max_delay_s."""
        delay = float(self._wait(self._state))
        self._state.attempt_number += 1
        return delay

    def reset(self) -> None:
        """After a success: the next failure waits min_delay_s again."""
        self._state.attempt_number = 1
