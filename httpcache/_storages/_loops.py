"""Which event loop a storage's asyncio resources belong to, and closing them as it ends.

An asyncio lock, socket or client session belongs to the event loop it was first used
on; used under another loop it fails (``RuntimeError('Event loop is closed')``, "bound to
a different event loop"). A program may run several loops one after the other (each
``asyncio.run`` makes a new one), so an async storage binds what it owns **lazily** to the
running loop and makes it again when the loop changes: :class:`LoopBinding` tells it when
(one ``asyncio.get_running_loop()`` per call, compared by identity).

What was made for a loop is closed *on that loop*, before it closes: the binding arms an
asynchronous generator whose ``finally`` runs the storage's closer. ``asyncio.run`` (and
``asyncio.Runner``, anyio's runner, pytest plugins) call ``loop.shutdown_asyncgens()``
after the last task ended, which closes that generator while the loop still runs, so
sockets and client sessions are closed properly and leave no ``ResourceWarning``. A loop
closed without that step (``loop.close()`` by hand) leaves nothing to await on: the
binding then only disarms its hook, and the old resources are dropped.

Under an async library other than asyncio (trio through anyio) nothing is loop-bound in
our storages that are usable there (memory, file), and the binding never changes.

Only async storages use this module; the sync halves have no loops.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable, Coroutine
from typing import Any

__all__ = ["WRONG_LOOP", "LoopBinding", "is_loop_error", "running_loop"]

logger = logging.getLogger("httpcache.storage")

WRONG_LOOP = (
    "the client belongs to another event loop (one that is closed or not running here):"
    " pass a client created on the loop that uses the storage, or let the storage create"
    " its own"
)
"""The rule a storage states when a caller's client is bound to another loop."""

_NOT_ASYNCIO = object()  # the "loop" of a non-asyncio async library: never changes

_Closer = Callable[[], Awaitable[None]]


def running_loop() -> object:
    """Return the running asyncio loop (another constant token outside asyncio)."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return _NOT_ASYNCIO


def is_loop_error(exc: BaseException) -> bool:
    """Tell whether ``exc`` (or what caused it) is asyncio refusing an object of another loop."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, RuntimeError) and "loop" in str(current).lower():
            return True
        current = current.__cause__ or current.__context__
    return False


class _Watch:
    """One armed loop-end hook: the generator the loop closes, and what it then runs."""

    def __init__(self, loop: asyncio.AbstractEventLoop, closer: _Closer) -> None:
        self.loop = loop
        self.closer: _Closer | None = closer
        self.finished = False
        self.gen = self._run()
        _step(self.gen.asend(None))  # first iteration: the loop's firstiter hook adopts it

    async def _run(self) -> AsyncGenerator[None, None]:
        try:
            yield
        finally:
            self.finished = True
            closer, self.closer = self.closer, None
            if closer is not None:
                try:
                    await closer()
                except Exception as exc:  # closing is best effort; never fail the loop's end
                    logger.debug("closing a storage's resources at loop end failed: %r", exc)

    @property
    def done(self) -> bool:
        return self.closer is None

    def disarm(self) -> None:
        """Forget the closer and finish the generator without awaiting anything."""
        self.closer = None
        if not self.finished:
            _step(self.gen.aclose())


def _step(awaitable: Coroutine[Any, Any, Any] | Awaitable[Any]) -> None:
    """Drive an awaitable that never suspends (an async generator step) to its end."""
    step = awaitable.__await__()
    try:
        step.send(None)
    except StopIteration:
        return
    raise RuntimeError("an async generator step suspended")  # pragma: no cover


class LoopBinding:
    """Remember which loop a storage's resources were made on; close them as it ends.

    ``changed()`` is the hot-path check. When it is true the storage makes its
    loop-bound resources again (keeping those that are not loop-bound) and calls
    :meth:`bind`. For each resource it makes it may call :meth:`at_end` with a closer,
    which runs on that loop as it shuts down (see the module docstring); a closer must
    be safe to run after the resource was closed already. A storage is used by one
    loop at a time.
    """

    def __init__(self) -> None:
        self._loop: object | None = None
        self._watches: list[_Watch] = []

    @property
    def bound(self) -> bool:
        """Whether the binding was made at all (resources exist for some loop)."""
        return self._loop is not None

    def changed(self) -> bool:
        """Tell whether the running loop is not the one bound to (always, before the first)."""
        return running_loop() is not self._loop

    def bind(self) -> None:
        """Bind to the running loop."""
        self._loop = running_loop()
        self._prune()

    def at_end(self, closer: _Closer) -> None:
        """Run ``await closer()`` on the running loop as it shuts down (asyncio only)."""
        loop = running_loop()
        if isinstance(loop, asyncio.AbstractEventLoop):
            self._prune()
            self._watches.append(_Watch(loop, closer))

    def _prune(self) -> None:
        """Drop hooks that ran; disarm those whose loop closed without running them."""
        kept: list[_Watch] = []
        for watch in self._watches:
            if watch.done:
                continue
            if watch.loop.is_closed():
                watch.disarm()  # nothing can be awaited there any more: drop what it held
                continue
            kept.append(watch)
        self._watches = kept
