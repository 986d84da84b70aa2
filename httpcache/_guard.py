"""The storage boundary: a deadline on every storage call and a circuit breaker (DESIGN §3).

The cache is an optimisation, so a storage that fails or hangs must cost a request nothing:

* **Deadline.** Every storage call gets ``CacheOptions.storage_timeout`` seconds. In async
  code the awaited call is cancelled when it runs out (an anyio cancel scope, so asyncio
  and trio alike); in sync code it runs on one of a few daemon worker threads and the
  request stops waiting for it. A storage whose calls provably return sooner declares it
  with a ``max_wait`` attribute (seconds, ``0`` for memory and local disk) and is then
  called directly, with no thread hop on the hot path. Calls named in a storage's
  ``unbounded_calls`` (S3: ``commit``, which completes a multipart upload of the whole
  body) are called directly too, bounded by the client's own timeouts rather than cut by
  a deadline that cannot grow with the body. A storage with one-off local setup
  (building a client) may offer ``prepare()``: it is called once, before the first call
  and outside the deadline, so the setup is not taken for an outage.
* **Circuit breaker.** After a failed call (an exception or a missed deadline) the
  storage is skipped for a cool-down that starts at ``storage_cooldown`` and doubles,
  while the outage lasts, up to ``storage_max_cooldown``; then one request probes it.
  A successful probe closes the breaker. One WARNING starts an outage, one INFO ends
  it, and everything in between is logged at DEBUG.

With ``strict=True`` every call is attempted and a failure (a timeout included) raises
:class:`~httpcache.StorageError`; the breaker is not used.

:class:`Breaker` is the state machine, pure and driven by the caller's monotonic clock;
:class:`StorageGuard` and :class:`AsyncStorageGuard` are the shells the transports use.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from time import monotonic
from typing import Any

import anyio

from ._exceptions import StorageError
from ._options import CacheOptions

__all__ = ["FAILED", "AsyncStorageGuard", "Breaker", "StorageGuard"]

logger = logging.getLogger("httpcache.transport")

FAILED: Any = object()
"""Returned by a guard's ``call`` when the storage failed or was skipped."""

_CLOSED, _OPEN, _TRIAL = "closed", "open", "trial"


class StorageTimeout(Exception):
    """A storage call did not return within the deadline."""

    def __init__(self, what: str, seconds: float) -> None:
        super().__init__(f"{what} did not return within {seconds:g} s")


PROBE = "get_entries"
"""The call that may probe an open circuit: every request makes it first, and it always
reaches the backend (a call such as ``open_writer`` may succeed without touching it)."""


class Breaker:
    """A circuit breaker's state, without I/O or clock reads (``now`` is monotonic seconds).

    Closed, every call is admitted. The first failure opens it: calls are refused for the
    cool-down, then a single :data:`PROBE` call is admitted. A successful probe puts the
    breaker on trial: calls are admitted again, and it closes (the outage is over) once
    the kind of call that failed first succeeds, or after ``maximum`` seconds on trial
    without a failure. A failed probe, or a failure on trial, reopens it with the
    cool-down doubled (up to ``maximum``): a storage that still reads but cannot write
    stays one outage, not one per cool-down.

    The caller reports the outcome of every admitted call with ``succeeded`` or
    ``failed``, or ``released`` for a call that ended without one (it was cancelled).
    """

    __slots__ = (
        "_cooldown",
        "_failed_call",
        "_first",
        "_lock",
        "_maximum",
        "_opened_at",
        "_probing",
        "_retry_at",
        "_skipped",
        "_state",
        "_trial_since",
    )

    def __init__(self, cooldown: float, maximum: float) -> None:
        self._first = cooldown
        self._maximum = max(cooldown, maximum)
        self._cooldown = cooldown
        self._state = _CLOSED
        self._opened_at = 0.0
        self._retry_at = 0.0
        self._trial_since = 0.0
        self._failed_call = ""
        self._probing = False
        self._skipped = 0
        self._lock = threading.Lock()

    @property
    def closed(self) -> bool:
        """Tell whether the storage is considered healthy (closed, or on trial)."""
        return self._state is not _OPEN

    @property
    def settled(self) -> bool:
        """Tell whether the breaker is closed and not on trial (nothing to report)."""
        return self._state is _CLOSED

    @property
    def cooldown(self) -> float:
        """The current cool-down, in seconds."""
        return self._cooldown

    def admit(self, now: float, what: str) -> bool:
        """Tell whether call ``what`` may go to the storage now."""
        if self._state is not _OPEN:
            return True
        with self._lock:
            if self._state is not _OPEN:
                return True
            if what != PROBE or self._probing or now < self._retry_at:
                self._skipped += 1
                return False
            self._probing = True
            return True

    def failed(self, now: float, what: str) -> str:
        """Record a failed call; return ``"opened"``, ``"reopened"`` or ``"failed"``.

        ``"opened"`` starts an outage; ``"reopened"`` is a failed probe or trial (the
        cool-down doubled); ``"failed"`` is a call already under way when it opened.
        """
        with self._lock:
            if self._state is _CLOSED:
                self._state = _OPEN
                self._opened_at = now
                self._failed_call = what
                self._cooldown = self._first
                self._retry_at = now + self._cooldown
                self._skipped = 0
                return "opened"
            if self._state is _OPEN and not self._probing:
                return "failed"
            self._state = _OPEN
            self._probing = False
            self._cooldown = min(self._cooldown * 2, self._maximum)
            self._retry_at = now + self._cooldown
            return "reopened"

    def succeeded(self, now: float, what: str) -> tuple[float, int] | None:
        """Record a successful call; return (outage seconds, calls skipped) if it closed."""
        if self._state is _CLOSED:
            return None
        with self._lock:
            if self._state is _OPEN:
                if not self._probing:
                    return None  # a call begun before the outage: the probe decides
                self._probing = False
                self._state = _TRIAL
                self._trial_since = now
            if self._state is _TRIAL and (
                what == self._failed_call or now - self._trial_since >= self._maximum
            ):
                self._state = _CLOSED
                return now - self._opened_at, self._skipped
            return None

    def released(self) -> None:
        """Forget an admitted call that ended without an outcome (it was cancelled)."""
        with self._lock:
            self._probing = False


class _GuardBase:
    """What the sync and async guards share: the breaker and the logging."""

    def __init__(self, storage: Any, options: CacheOptions) -> None:
        self._options = options
        self._timeout = options.storage_timeout
        self._breaker = (
            None
            if options.storage_cooldown <= 0
            else Breaker(options.storage_cooldown, options.storage_max_cooldown)
        )
        max_wait = getattr(storage, "max_wait", None)
        self._direct = self._timeout is None or (
            isinstance(max_wait, (int, float)) and max_wait <= self._timeout
        )
        self._unbounded = frozenset(getattr(storage, "unbounded_calls", ()))
        """Calls that take as long as they must (e.g. S3's ``commit`` of a large body)."""
        self._name = type(storage).__name__
        self._prepare: Callable[[], Any] | None = getattr(storage, "prepare", None)

    @property
    def available(self) -> bool:
        """Tell whether the storage is in use (``False`` while the breaker skips it)."""
        return self._breaker is None or self._breaker.closed

    def _admit(self, what: str) -> bool:
        breaker = self._breaker
        if breaker is None or self._options.strict or what == "close":
            return True  # closing is never skipped: it releases what the storage holds
        if breaker.admit(monotonic(), what):
            return True
        logger.debug("storage %s skipped during %s: the circuit is open", self._name, what)
        return False

    def _succeeded(self, what: str) -> None:
        breaker = self._breaker
        if breaker is None or breaker.settled:
            return
        recovered = breaker.succeeded(monotonic(), what)
        if recovered is not None:
            seconds, skipped = recovered
            logger.info(
                "storage %s recovered after %.1f s (%d calls skipped); using the cache again",
                self._name,
                seconds,
                skipped,
            )

    def _failed(self, what: str, exc: BaseException) -> Any:
        if self._options.strict:
            raise StorageError(f"storage failed during {what}: {exc}") from exc
        breaker = self._breaker
        if breaker is None:
            logger.warning(
                "storage %s failed during %s: %r; continuing without the cache",
                self._name,
                what,
                exc,
            )
            return FAILED
        outcome = breaker.failed(monotonic(), what)
        if outcome == "opened":
            logger.warning(
                "storage %s failed during %s: %r; going to the network without it, "
                "retrying in %g s (further failures are logged at DEBUG)",
                self._name,
                what,
                exc,
                breaker.cooldown,
            )
        else:
            logger.debug(
                "storage %s still failing during %s: %r; next try in %g s",
                self._name,
                what,
                exc,
                breaker.cooldown,
            )
        return FAILED

    def _released(self) -> None:
        if self._breaker is not None and not self._breaker.settled:
            self._breaker.released()


class AsyncStorageGuard(_GuardBase):
    """Call an async storage under the deadline and the breaker."""

    async def call_soon(
        self,
        what: str,
        method: Callable[..., Any],
        *args: Any,
        on_done: Callable[[], None] | None = None,
    ) -> None:
        """Make a best-effort call whose result nobody needs (``record_hit``, a lease release).

        Awaited like :meth:`call`: on an event loop it costs no thread hop. ``on_done``
        is called once the call has ended, whatever its outcome.
        """
        try:
            await self.call(what, method, *args)
        finally:
            if on_done is not None:
                on_done()

    async def drain(self) -> None:
        """Wait for best-effort calls still under way (none: each was awaited)."""

    async def call(self, what: str, method: Callable[..., Any], *args: Any) -> Any:
        """Return ``await method(*args)``, or :data:`FAILED` if it failed or was skipped."""
        if not self._admit(what):
            return FAILED
        try:
            if self._prepare is not None:
                prepare, self._prepare = self._prepare, None
                try:
                    await prepare()
                except BaseException:
                    self._prepare = prepare  # try again next time
                    raise
            if self._direct or what in self._unbounded:
                result = await method(*args)
            else:
                assert self._timeout is not None
                with anyio.move_on_after(self._timeout) as scope:
                    result = await method(*args)
                if scope.cancelled_caught:
                    return self._failed(what, StorageTimeout(what, self._timeout))
        except Exception as exc:
            return self._failed(what, exc)
        except BaseException:
            self._released()
            raise
        self._succeeded(what)
        return result


_DETACHED_LIMIT = 64
"""Most best-effort calls (``call_soon``) waiting for a worker at once; more are dropped."""

_STATE = threading.Lock()
"""Guards the hand-over of a :class:`_Call` between the waiting thread and a worker."""


class _Call:
    """One storage call handed to a worker thread."""

    __slots__ = ("abandoned", "args", "done", "error", "method", "result", "started")

    def __init__(self, method: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.method = method
        self.args = args
        self.done = threading.Lock()
        self.done.acquire()
        self.result: Any = None
        self.error: BaseException | None = None
        self.started = False
        self.abandoned = False

    def run(self) -> None:
        with _STATE:
            if self.abandoned:  # the caller gave up before a worker was free
                return
            self.started = True
        try:
            self.result = self.method(*self.args)
        except BaseException as exc:  # handed to the waiting thread
            self.error = exc
        finally:
            self.done.release()

    def abandon(self) -> None:
        with _STATE:
            self.abandoned = True


class _Detached(_Call):
    """A best-effort call that nobody waits for: its outcome goes straight to the guard."""

    __slots__ = ("guard", "on_done", "what")

    def __init__(
        self,
        guard: StorageGuard,
        what: str,
        method: Callable[..., Any],
        args: tuple[Any, ...],
        on_done: Callable[[], None] | None,
    ) -> None:
        super().__init__(method, args)
        self.guard = guard
        self.what = what
        self.on_done = on_done

    def run(self) -> None:
        try:
            try:
                self.method(*self.args)
            except Exception as exc:
                self.guard._detached_done(self.what, exc)
            else:
                self.guard._detached_done(self.what, None)
        finally:
            if self.on_done is not None:
                self.on_done()


class _Workers:
    """A few daemon threads running storage calls, started on demand, ending when idle.

    Daemon threads, so a call stuck in a hung backend never keeps the interpreter alive.
    A call that finds no idle worker starts one, up to ``limit``; beyond that it waits in
    the queue (and, if it waits past its deadline, is dropped unrun).
    """

    _IDLE_SECONDS = 30.0

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._queue: queue.SimpleQueue[_Call] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads = 0
        self._idle = 0  # workers waiting for a call and not yet claimed by one

    def submit(self, call: _Call) -> None:
        with self._lock:
            if self._idle:
                self._idle -= 1
                start = False
            else:
                start = self._threads < self._limit
                self._threads += start
        self._queue.put(call)
        if start:
            threading.Thread(target=self._work, name="httpcache-storage", daemon=True).start()

    def _work(self) -> None:
        while True:
            try:
                call = self._queue.get(timeout=self._IDLE_SECONDS)
            except queue.Empty:
                with self._lock:
                    if self._idle:  # unclaimed: leave
                        self._idle -= 1
                        self._threads -= 1
                        return
                continue  # a call claimed this worker just now: wait for it
            call.run()
            with self._lock:
                self._idle += 1


class StorageGuard(_GuardBase):
    """Call a sync storage under the deadline and the breaker."""

    _WORKERS = 8

    def __init__(self, storage: Any, options: CacheOptions) -> None:
        super().__init__(storage, options)
        self._workers: _Workers | None = None
        self._workers_lock = threading.Lock()
        self._detached = 0  # call_soon calls handed over and not yet run
        self._drained = threading.Condition(self._workers_lock)

    def _pool(self) -> _Workers:
        if self._workers is None:
            with self._workers_lock:
                if self._workers is None:
                    self._workers = _Workers(self._WORKERS)
        return self._workers

    def _prepare_once(self) -> None:
        with self._workers_lock:  # the other first callers wait for it
            prepare = self._prepare
            if prepare is not None:
                prepare()
                self._prepare = None

    def _run(self, what: str, method: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        assert self._timeout is not None
        call = _Call(method, args)
        self._pool().submit(call)
        if not call.done.acquire(timeout=self._timeout):
            call.abandon()  # a call not yet started never runs; one under way runs out alone
            raise StorageTimeout(what, self._timeout)
        if call.error is not None:
            raise call.error
        return call.result

    def call_soon(
        self,
        what: str,
        method: Callable[..., Any],
        *args: Any,
        on_done: Callable[[], None] | None = None,
    ) -> None:
        """Make a best-effort call whose result nobody needs (``record_hit``), without waiting.

        A storage called directly is called directly; otherwise the call is handed to a
        worker thread and the caller goes on at once, so a cache hit costs one thread hop
        (its lookup), not two. Its failure counts like any other. With ``strict`` it is an
        ordinary :meth:`call`, so that errors reach the caller. When
        :data:`_DETACHED_LIMIT` such calls are already waiting for a worker (a slow
        backend), the call is dropped: a hit count is best effort, and a lease lapses by
        itself. ``on_done`` is called once the call has ended (or was skipped or dropped),
        on whichever thread ran it.
        """
        detached = False
        try:
            if self._direct or self._options.strict:
                self.call(what, method, *args)
                return
            if not self._admit(what):
                return
            with self._workers_lock:
                dropped = self._detached >= _DETACHED_LIMIT
                if not dropped:
                    self._detached += 1
            if dropped:
                self._released()
                logger.debug("storage %s: %s dropped, too many waiting", self._name, what)
                return
            self._pool().submit(_Detached(self, what, method, args, on_done))
            detached = True
        finally:
            if on_done is not None and not detached:
                on_done()

    def drain(self) -> None:
        """Wait for the best-effort calls handed to workers to run (at most the deadline).

        The transport drains before it closes, so the hits of its last requests reach the
        storage before anybody closes it.
        """
        with self._drained:
            self._drained.wait_for(lambda: self._detached == 0, timeout=self._timeout)

    def _detached_done(self, what: str, error: Exception | None) -> None:
        try:
            if error is None:
                self._succeeded(what)
            else:
                self._failed(what, error)
        finally:
            with self._workers_lock:
                self._detached -= 1
                if not self._detached:
                    self._drained.notify_all()

    def call(self, what: str, method: Callable[..., Any], *args: Any) -> Any:
        """Return ``method(*args)``, or :data:`FAILED` if it failed or was skipped."""
        if not self._admit(what):
            return FAILED
        try:
            if self._prepare is not None:
                self._prepare_once()
            direct = self._direct or what in self._unbounded
            result = method(*args) if direct else self._run(what, method, args)
        except Exception as exc:
            return self._failed(what, exc)
        except BaseException:
            self._released()
            raise
        self._succeeded(what)
        return result
