"""The caching transport: a thin shell that drives the policy and moves bytes.

Every decision comes from :mod:`httpcache._policy._engine`; this module only
reads the clock, talks to the wrapped transport and to the storage, and builds
httpx responses. Storage failures never fail a request (DESIGN §3): they are
logged at WARNING and the request goes to the network, unless
``CacheOptions.strict`` is set.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections import OrderedDict
from dataclasses import replace
from typing import Any

import httpx

from .._background import AsyncBackground
from .._exchange import (
    background_exchange,
    cache_request,
    gateway_timeout,
    passed_on,
    reads_body,
    response_head,
    stored_response,
)
from .._guard import FAILED, AsyncStorageGuard
from .._models import Entry
from .._options import CacheOptions
from .._policy._engine import (
    CacheRequest,
    Forward,
    GatewayTimeout,
    ResponsePlan,
    Revalidate,
    Serve,
    body_lost,
    on_request,
    on_response,
    stale_on_error,
)
from .._policy._headers import get_first
from .._policy._keys import normalize_url, primary_key
from .._policy._status import cache_status
from ._bodies import AsyncStoredBody, AsyncTeeBody
from ._flights import AsyncFlights
from ._leases import AsyncLanding, AsyncLeases
from ._storage import AsyncEntryWriter, AsyncStorage
from ._storage_choice import choose_storage

__all__ = ["AsyncCacheTransport"]

logger = logging.getLogger("httpcache.transport")

_INVALIDATIONS_KEPT = 1024
_FAILED: Any = FAILED
"""Returned by ``_storage_call`` when the storage failed, timed out or was skipped."""
_ERROR_STATUSES = frozenset({500, 502, 503, 504})


class AsyncCacheTransport(httpx.AsyncBaseTransport):
    """Wrap an httpx transport with an RFC 9111 HTTP cache.

    Args:
        transport: The transport that reaches the network. Defaults to
            :class:`httpx.AsyncHTTPTransport`.
        storage: Where entries live: a storage object, left open when the
            transport closes, or a storage URL such as ``"sqlite:///cache.db"``.
            Without it, the ``HTTPCACHE_STORAGE`` environment variable names
            the storage as a URL; without that, a new
            :class:`AsyncInMemoryStorage`. A storage the transport builds (from
            a URL, or the default) is closed with it.
        options: How the cache behaves; see :class:`CacheOptions`.

    Raises:
        ConfigurationError: for a bad storage URL (in ``storage=`` or in
            ``HTTPCACHE_STORAGE``) or a missing extra.
        TypeError: for a ``storage=`` that is neither a storage nor a string.

    Request extensions (per-request control, never sent to the origin):
    ``httpcache_bypass`` (neither read nor write the cache),
    ``httpcache_refresh`` (ignore stored responses, store the new one),
    ``httpcache_only_if_cached`` (504 rather than contact the origin),
    ``httpcache_offline`` (serve what is stored, fresh or stale, or 504),
    ``httpcache_ttl`` (storage lifetime of the stored response, seconds) and
    ``httpcache_force_cache`` (the non-RFC force-cache mode for this request).

    Response extensions: ``from_cache``, ``revalidated``, ``stale``,
    ``cache_key``, ``cache_metadata`` and ``cache_status``.
    """

    def __init__(
        self,
        transport: httpx.AsyncBaseTransport | None = None,
        *,
        storage: AsyncStorage | str | None = None,
        options: CacheOptions | None = None,
    ) -> None:
        self._storage: AsyncStorage
        self._storage, self._owns_storage = choose_storage(storage)
        self._transport = transport if transport is not None else httpx.AsyncHTTPTransport()
        self._options = options if options is not None else CacheOptions()
        self._guard = AsyncStorageGuard(self._storage, self._options)
        self._flights = AsyncFlights(self._options.collapse_timeout)
        self._leases = AsyncLeases(self._storage, self._guard, self._options)
        self._background = AsyncBackground()
        # I-9: key -> (order mark when invalidated, sequence of the invalidating exchange)
        self._invalidated: OrderedDict[str, tuple[int, int]] = OrderedDict()
        self._invalidated_lock = threading.Lock()
        self._sequence = itertools.count()

    @property
    def storage(self) -> AsyncStorage:
        """The storage entries are kept in."""
        return self._storage

    @property
    def options(self) -> CacheOptions:
        """The cache's configuration."""
        return self._options

    @property
    def transport(self) -> httpx.AsyncBaseTransport:
        """The wrapped transport."""
        return self._transport

    @property
    def storage_available(self) -> bool:
        """Tell whether the storage is in use: ``False`` while the circuit breaker skips it."""
        return self._guard.available

    # -- storage access, failing open ------------------------------------

    async def _storage_call(self, what: str, method: Any, *args: Any) -> Any:
        """Call a storage method under the deadline and the circuit breaker (``_guard``).

        On failure log (or raise if strict) and return ``_FAILED``.
        """
        return await self._guard.call(what, method, *args)

    async def _get_entries(self, key: str) -> list[Entry]:
        found = await self._storage_call("get_entries", self._storage.get_entries, key)
        return [] if found is _FAILED else list(found)

    def _invalidated_since(self, key: str, sequence: int) -> bool:
        """Tell whether ``key`` was invalidated after exchange ``sequence`` was sent (I-9).

        The invalidating exchange's own storable answer (S-24) is not affected.
        """
        mark = self._invalidated.get(key)
        return mark is not None and mark[0] > sequence and mark[1] != sequence

    async def _commit(self, writer: AsyncEntryWriter, entry: Entry, plan: ResponsePlan) -> bool:
        """Make a fully received entry visible; tell whether it was stored."""
        committed = await self._storage_call("commit", writer.commit)
        if committed is _FAILED:
            return False
        if plan.replaces:
            await self._storage_call(
                "delete_entries", self._storage.delete_entries, entry.key, plan.replaces
            )
        logger.debug("stored %s %s", entry.request.method, entry.request.url)  # normalised
        return True

    def _key_for_url(self, url: str, request: httpx.Request) -> str:
        if self._options.key_func is None:
            return primary_key(url)
        return self._options.key_func(httpx.Request("GET", url, headers=request.headers))

    async def _apply(
        self,
        plan: ResponsePlan,
        creq: CacheRequest,
        request: httpx.Request,
        sequence: int,
        *,
        deletes: bool = True,
    ) -> None:
        """Carry out a plan's invalidations, updates and (unless told not to) deletions."""
        for url in plan.invalidate:
            key = self._key_for_url(url, request)
            with self._invalidated_lock:  # one sync transport may serve many threads
                self._invalidated[key] = (next(self._sequence), sequence)
                self._invalidated.move_to_end(key)
                while len(self._invalidated) > _INVALIDATIONS_KEPT:
                    self._invalidated.popitem(last=False)
            await self._storage_call("invalidate", self._storage.delete_entries, key)
            logger.debug("invalidated %s", url)
        for entry in plan.update:
            await self._storage_call("update_entry", self._storage.update_entry, entry)
        if deletes:
            await self._apply_deletes(plan, creq)

    async def _apply_deletes(self, plan: ResponsePlan, creq: CacheRequest) -> None:
        if plan.delete:
            variants = [entry.variant for entry in plan.delete]
            await self._storage_call(
                "delete_entries", self._storage.delete_entries, creq.key, variants
            )

    # -- building responses -------------------------------------------------

    async def _from_storage(
        self,
        serve: Serve,
        creq: CacheRequest,
        *,
        revalidated: bool,
        fwd: str | None = None,
        fwd_status: int | None = None,
    ) -> httpx.Response | None:
        """Build the response for ``serve``; ``None`` when its body has vanished."""
        stream: httpx.AsyncByteStream
        if not serve.with_body:
            stream = AsyncStoredBody(None)
        elif serve.entry.body is not None:  # kept inline: the hit needs no second read
            body = serve.entry.body
            if serve.content_range is not None:  # a 206: the part only (RFC 9110 §14.4)
                body = body[serve.content_range[0] : serve.content_range[1] + 1]
            stream = httpx.ByteStream(body)
        else:
            opened = await self._storage_call("open_body", self._storage.open_body, serve.entry)
            if opened is None or opened is _FAILED:
                return None
            stream = AsyncStoredBody(opened, serve.content_range)
        if self._options.record_hits:
            # Best effort, and nobody waits for it (sync: no second thread hop on a hit).
            await self._guard.call_soon("record_hit", self._storage.record_hit, serve.entry)
        return stored_response(
            serve,
            creq,
            stream,
            self._options,
            revalidated=revalidated,
            fwd=fwd,
            fwd_status=fwd_status,
        )

    def _passed_on(
        self,
        response: httpx.Response,
        creq: CacheRequest,
        reason: str,
        *,
        stored: bool,
        stream: httpx.AsyncByteStream | None = None,
    ) -> httpx.Response:
        """The origin's response with the cache's extensions (see :func:`passed_on`)."""
        return passed_on(
            response,
            creq,
            reason,
            self._options,
            stored=stored,
            available=self._guard.available,
            stream=stream,
        )

    # -- the request loop ---------------------------------------------------

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Answer ``request`` from the cache or the network (RFC 9111 §4)."""
        options = self._options
        if reads_body(request, options):  # a body-keyed POST: digested, then sent as read
            await request.aread()
        creq = cache_request(request, options)
        mark = self._flights.mark()
        entries = [] if creq.bypass else await self._get_entries(creq.key)
        decision = on_request(creq, entries, options.clock(), options)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("%s %s: %s", creq.method, normalize_url(creq.url), type(decision).__name__)
        return await self._answer(request, creq, decision, mark)

    async def _answer(
        self,
        request: httpx.Request,
        creq: CacheRequest,
        decision: Serve | Revalidate | Forward | GatewayTimeout,
        mark: int | None,
    ) -> httpx.Response:
        """Carry out ``on_request``'s decision; ``mark`` is ``None`` after a collapse."""
        if isinstance(decision, Serve) and decision.background is not None:
            refresh = decision.background
            if not (
                self._background.running(creq.key)
                or self._background.start(creq.key, self._refresh, request, creq, refresh)
            ):  # closed, or too many at once: revalidate before answering instead
                if isinstance(refresh, Forward):
                    refresh = replace(refresh, fallback=decision.entry)
                decision = refresh
        if isinstance(decision, Serve):
            response = await self._from_storage(decision, creq, revalidated=False)
            if response is not None:
                return response
            decision = body_lost(creq)
        if isinstance(decision, GatewayTimeout):
            return gateway_timeout(creq)
        if mark is not None and self._collapses(request, creq):
            return await self._collapsed(request, creq, decision, mark)
        return await self._forward(request, creq, decision)

    # -- request collapsing (one origin request per key at a time, see _flights) -------

    def _collapses(self, request: httpx.Request, creq: CacheRequest) -> bool:
        return (
            self._options.collapse
            and (creq.method == "GET" or creq.body_keyed)  # the POST's body is in memory
            and not (creq.bypass or creq.refresh)
            and request.extensions.get("httpcache_collapse", True) is not False
            and self._guard.available  # with no storage to share a response through
        )

    async def _collapsed(
        self,
        request: httpx.Request,
        creq: CacheRequest,
        decision: Revalidate | Forward,
        mark: int,
    ) -> httpx.Response:
        """Forward as the key's only request in flight, or wait for the one that is.

        In this process the flights decide (``_flights``); across processes, the storage's
        lease, when it has leases (``_leases``).
        """
        arrived = self._options.clock()
        mine, theirs = self._flights.lead(creq.key, mark)
        if mine is None:
            if theirs is not None:
                await theirs.wait()
            return await self._after_flight(request, replace(creq, validated_since=arrived))
        landing = AsyncLanding(mine, self._leases, creq.key)
        try:
            landing.token, waited = await self._leases.take(creq.key, mine.deadline)
            if waited:  # another process went to the origin: look again
                creq = replace(creq, validated_since=arrived)
                entries = await self._get_entries(creq.key)
                again = on_request(creq, entries, self._options.clock(), self._options)
                if not isinstance(again, (Revalidate, Forward)):
                    await landing()
                    return await self._answer(request, creq, again, None)
                decision = again
                mine.extend(self._options.collapse_timeout)
            response = await self._forward(request, creq, decision)
        except BaseException:
            await landing()
            raise
        stream = response.stream
        if isinstance(stream, AsyncTeeBody) and stream.pending:
            stream.on_done(landing)  # the body is stored as the user reads it
        else:
            await landing()
        return response

    async def _after_flight(self, request: httpx.Request, creq: CacheRequest) -> httpx.Response:
        """Look again once the flight we waited for has landed; go on alone if need be."""
        options = self._options
        entries = await self._get_entries(creq.key)
        decision = on_request(creq, entries, options.clock(), options)
        return await self._answer(request, creq, decision, None)

    @staticmethod
    def _outgoing(request: httpx.Request, decision: Revalidate | Forward) -> httpx.Request:
        """The request sent to the origin: ``request``, with the validators of a revalidation."""
        if not isinstance(decision, Revalidate):
            return request
        headers = request.headers.copy()
        for name, value in decision.conditional_headers:
            headers[name.decode("latin-1")] = value.decode("latin-1")
        return httpx.Request(
            request.method,
            request.url,
            headers=headers,
            stream=request.stream,
            extensions=request.extensions,
        )

    async def _forward(
        self, request: httpx.Request, creq: CacheRequest, decision: Revalidate | Forward
    ) -> httpx.Response:
        options = self._options
        outgoing = self._outgoing(request, decision)
        fallback = decision.fallback if isinstance(decision, Forward) else decision.entry
        sequence = next(self._sequence)
        request_time = options.clock()
        try:
            response = await self._transport.handle_async_request(outgoing)
        except httpx.TransportError:
            stale = await self._stale_instead(creq, fallback, None, decision.reason)
            if stale is not None:
                return stale
            raise
        response_time = max(options.clock(), request_time)

        if fallback is not None and response.status_code in _ERROR_STATUSES:
            stale = await self._stale_instead(creq, fallback, response.status_code, decision.reason)
            if stale is not None:
                await response.aclose()
                return stale

        plan = on_response(
            creq, decision, response_head(response), request_time, response_time, options
        )
        if plan.retry:
            await response.aclose()
            return await self._forward(request, creq, Forward(decision.reason))
        if plan.serve is not None:
            # Freshen first (so the hit is counted on the new head), open the body,
            # and only then delete an entry the 304 made unstorable (U-13).
            await self._apply(plan, creq, request, sequence, deletes=False)
            served = await self._from_storage(
                plan.serve,
                creq,
                revalidated=True,
                fwd=decision.reason,
                fwd_status=response.status_code,
            )
            await self._apply_deletes(plan, creq)
            await response.aclose()
            if served is None:  # U-12: the entry vanished while we revalidated
                return await self._forward(request, creq, Forward(decision.reason))
            return served
        await self._apply(plan, creq, request, sequence)
        if plan.store is None:
            return self._passed_on(response, creq, decision.reason, stored=False)
        return await self._store(response, creq, decision, plan, sequence)

    # -- stale-while-revalidate: refreshing behind a stale response (RFC 5861 §3) -----------

    async def _refresh(
        self, request: httpx.Request, creq: CacheRequest, decision: Revalidate | Forward
    ) -> None:
        """Revalidate in the background what was just served stale; never raises an origin error.

        What the origin sends is handled as a foreground answer would be (stored, freshening
        on a 304, invalidating), except that nothing is served: a 304 only freshens, an
        error (500, 502, 503, 504 or no response) leaves the stale response as it is, and a
        new body is read to the end so that it is stored.
        """
        outgoing, creq = background_exchange(request, creq)
        try:
            await self._refresh_with(outgoing, creq, decision)
        except httpx.TransportError as exc:
            logger.debug("background revalidation of %s failed: %r", normalize_url(creq.url), exc)

    async def _refresh_with(
        self, request: httpx.Request, creq: CacheRequest, decision: Revalidate | Forward
    ) -> None:
        options = self._options
        sequence = next(self._sequence)
        request_time = options.clock()
        response = await self._transport.handle_async_request(self._outgoing(request, decision))
        try:
            response_time = max(options.clock(), request_time)
            if response.status_code in _ERROR_STATUSES:
                logger.debug(
                    "background revalidation of %s: %d, kept the stale response",
                    normalize_url(creq.url),
                    response.status_code,
                )
                return
            head = response_head(response)
            plan = on_response(creq, decision, head, request_time, response_time, options)
            if plan.retry:  # a 304 that matches no stored response: ask again, unconditionally
                await response.aclose()
                await self._refresh_with(request, creq, Forward(decision.reason))
                return
            await self._apply(plan, creq, request, sequence)
            if plan.serve is not None or plan.store is None:
                return
            stored = await self._store(response, creq, decision, plan, sequence)
            stream: Any = stored.stream
            async for _chunk in stream:  # the tee stores the body as it is read
                pass
            await stored.aclose()
        finally:
            await response.aclose()

    async def _stale_instead(
        self, creq: CacheRequest, fallback: Entry | None, status: int | None, reason: str
    ) -> httpx.Response | None:
        if fallback is None:
            return None
        serve = stale_on_error(creq, fallback, status, self._options.clock(), self._options)
        if serve is None:
            return None
        logger.debug(
            "%s: serving stale instead of %s",
            normalize_url(creq.url),
            status or "a transport error",
        )
        return await self._from_storage(
            serve, creq, revalidated=False, fwd=reason, fwd_status=status
        )

    async def _store(
        self,
        response: httpx.Response,
        creq: CacheRequest,
        decision: Revalidate | Forward,
        plan: ResponsePlan,
        sequence: int,
    ) -> httpx.Response:
        entry = plan.store
        assert entry is not None
        expected: int | None = None
        length = get_first(entry.response.headers, b"content-length")
        if creq.method != "HEAD" and response.status_code not in (204, 304) and length is not None:
            expected = int(length) if length.strip().isdigit() else None
        limit = self._options.max_entry_size
        if expected is not None and limit is not None and expected > limit:
            return self._passed_on(response, creq, decision.reason, stored=False)
        writer = await self._storage_call("open_writer", self._storage.open_writer, entry)
        if writer is _FAILED:
            return self._passed_on(response, creq, decision.reason, stored=False)
        if isinstance(response.stream, httpx.ByteStream):  # the whole body is in memory
            stored = await self._store_whole(
                response.stream, writer, entry, plan, expected, sequence
            )
            return self._passed_on(response, creq, decision.reason, stored=stored)
        assert isinstance(response.stream, httpx.AsyncByteStream)
        tee = AsyncTeeBody(response.stream, writer, self, entry, plan, expected, sequence)
        passed = self._passed_on(response, creq, decision.reason, stored=True, stream=tee)
        # Should the store be aborted later, the extension tells the truth (the header is sent).
        tee.on_abort(
            passed.extensions,
            cache_status(
                hit=False, fwd=decision.reason, fwd_status=response.status_code, stored=False
            ),
        )
        return passed

    async def _store_whole(
        self,
        stream: httpx.ByteStream,
        writer: AsyncEntryWriter,
        entry: Entry,
        plan: ResponsePlan,
        expected: int | None,
        sequence: int,
    ) -> bool:
        """Store a body that is already whole in memory, at once; tell whether it was stored.

        The same checks as :class:`AsyncTeeBody` makes once a streamed body is read:
        complete (S-18), within ``max_entry_size``, not invalidated meanwhile (I-9).
        An ``httpx.ByteStream`` yields the same bytes every time it is iterated, so the
        user still reads the body from the response.
        """
        body = b"".join(stream)
        limit = self._options.max_entry_size
        if (
            (expected is not None and len(body) != expected)
            or (limit is not None and len(body) > limit)
            or self._invalidated_since(entry.key, sequence)
        ):
            await self._storage_call("abort", writer.abort)
            return False
        if body and await self._storage_call("write", writer.write, body) is _FAILED:
            await self._storage_call("abort", writer.abort)
            return False
        return await self._commit(writer, entry, plan)

    async def aclose(self) -> None:
        """Close the wrapped transport, and the storage if this transport created it.

        Background revalidations (``stale-while-revalidate``) running on this event loop
        are cancelled first and waited for.
        """
        await self._background.aclose()
        await self._guard.drain()  # the hits of the last requests, before the storage closes
        await self._transport.aclose()
        if self._owns_storage:
            await self._storage_call("close", self._storage.aclose)

    async def __aenter__(self) -> AsyncCacheTransport:
        return self

    async def __aexit__(self, *args: object) -> None:
        await self.aclose()
