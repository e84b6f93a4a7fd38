"""The load generator: real clients (httpx, `websockets`) in worker processes of their
own, apart from the server under test.

A `Crew` starts workers together: each sets up (opens its sockets or HTTP clients),
reports ready, waits for `go`, works, and sends back one result dict. Latency is
measured across processes with CLOCK_MONOTONIC (system-wide on Linux): a sender
writes `time.monotonic_ns()` into the message body, a receiver subtracts it on arrival.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import multiprocessing
import queue
import resource
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from multiprocessing.sharedctypes import Synchronized
from typing import Any

import httpx
import websockets
from websockets.asyncio.client import ClientConnection

SPAWN = multiprocessing.get_context("spawn")
CONNECTS_AT_ONCE = 200  # per worker; keeps the server's listen backlog from overflowing
SETUP_ATTEMPTS = 3  # (f) connects before the outage
SOCKET_TIMEOUT_SECONDS = 120.0
BODY_PREFIX = "bench"


def raise_fd_limit() -> int:
    """Lift the soft open-files limit to the hard one (sockets are files)."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def stamped_body(index: int) -> str:
    return f"{BODY_PREFIX} {time.monotonic_ns()} {index}"


def latency_ms(body: str) -> float | None:
    parts = body.split(" ", 2)
    if len(parts) < 2 or parts[0] != BODY_PREFIX:
        return None
    return (time.monotonic_ns() - int(parts[1])) / 1e6


# ----------------------------------------------------------------- orchestration


@dataclass
class Signals:
    """What a worker shares with the orchestrator (all picklable for spawn)."""

    ready: Any = field(default_factory=SPAWN.Queue)
    results: Any = field(default_factory=SPAWN.Queue)
    go: Any = field(default_factory=SPAWN.Event)
    stop: Any = field(default_factory=SPAWN.Event)
    disconnect: Any = field(default_factory=SPAWN.Event)
    reconnect: Any = field(default_factory=SPAWN.Event)
    reconnect_at: Synchronized[float] = field(default_factory=lambda: SPAWN.Value("d", 0.0))
    delivered: Synchronized[int] = field(default_factory=lambda: SPAWN.Value("q", 0))


class Crew:
    """Worker processes released together; every wait has a deadline."""

    def __init__(self) -> None:
        self.signals = Signals()
        self.processes: list[Any] = []

    def start(self, target: Callable[..., None], *args: Any) -> None:
        process = SPAWN.Process(target=target, args=(self.signals, *args), daemon=True)
        process.start()
        self.processes.append(process)

    def wait_ready(self, timeout: float) -> list[dict[str, Any]]:
        return [self._take(self.signals.ready, timeout) for _ in self.processes]

    def go(self) -> None:
        self.signals.go.set()

    def stop(self) -> None:
        self.signals.stop.set()

    def results(self, timeout: float) -> list[dict[str, Any]]:
        try:
            return [self._take(self.signals.results, timeout) for _ in self.processes]
        finally:
            self.close()

    def close(self) -> None:
        self.signals.stop.set()
        for process in self.processes:
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
                process.join()

    def _take(self, channel: Any, timeout: float) -> dict[str, Any]:
        try:
            item = channel.get(timeout=timeout)
        except queue.Empty:
            self.close()
            raise TimeoutError(f"a bench worker did not answer within {timeout:.0f} s") from None
        if "crashed" in item:
            self.close()
            raise RuntimeError(f"a bench worker crashed:\n{item['crashed']}")
        return item


def _run_worker(signals: Signals, work: Coroutine[Any, Any, dict[str, Any]]) -> None:
    raise_fd_limit()
    try:
        result = asyncio.run(work)
    except BaseException:
        signals.ready.put({"crashed": traceback.format_exc()})
        signals.results.put({"crashed": traceback.format_exc()})
        raise
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result["client_cpu_seconds"] = usage.ru_utime + usage.ru_stime
    signals.results.put(result)


async def _wait(event: Any, seconds: float | None = None) -> bool:
    return await asyncio.to_thread(event.wait, seconds)


# -------------------------------------------------------------------- sockets


@dataclass(frozen=True, slots=True)
class SocketSpec:
    """One socket: its first frame (auth, or a relay join) and whose it is, so a
    user's own messages arriving on their other sockets are not counted."""

    hello: str
    owner: str = ""
    # Offer permessage-deflate, as browsers do (the server then keeps zlib state).
    deflate: bool = True


def huddle_auth(token: str, user_id: str) -> SocketSpec:
    return SocketSpec(json.dumps({"type": "auth", "token": token}), user_id)


class Listener:
    """One open WebSocket that records the delivery latency of stamped messages."""

    def __init__(self, url: str, spec: SocketSpec, tally: Tally) -> None:
        self.url, self.spec, self.tally = url, spec, tally
        self.socket: ClientConnection | None = None
        self.first: dict[str, Any] = {}

    async def open(self) -> None:
        self.socket = await websockets.connect(
            self.url,
            max_size=None,
            ping_interval=None,
            open_timeout=SOCKET_TIMEOUT_SECONDS,
            compression="deflate" if self.spec.deflate else None,
        )
        await self.socket.send(self.spec.hello)
        self.first = json.loads(await self.socket.recv())
        if self.first.get("type") == "error":
            raise ConnectionError(self.first.get("code"))

    async def listen(self) -> None:
        assert self.socket is not None
        try:
            async for raw in self.socket:
                self.tally.frame(json.loads(raw), self.spec.owner)
        except websockets.ConnectionClosed as closed:
            self.tally.closed[str(closed.rcvd.code if closed.rcvd else "none")] += 1

    async def close(self) -> None:
        if self.socket is not None:
            await self.socket.close()


@dataclass
class Tally:
    delivered: Synchronized[int]
    latencies: list[float] = field(default_factory=list)
    closed: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)

    def frame(self, frame: dict[str, Any], owner: str) -> None:
        if frame.get("type") == "message.created":
            message = frame["message"]
            if message["sender_id"] == owner or message["body"] is None:
                return
            body = message["body"]
        elif frame.get("type") == "relay":
            body = frame["body"]
        else:
            return
        latency = latency_ms(body)
        if latency is not None:
            self.latencies.append(latency)
            with self.delivered.get_lock():
                self.delivered.value += 1


async def open_all(listeners: list[Listener], tally: Tally) -> list[Listener]:
    """Open every socket, at most CONNECTS_AT_ONCE at a time; the ones that opened."""
    slots = asyncio.Semaphore(CONNECTS_AT_ONCE)

    async def one(listener: Listener) -> bool:
        async with slots:
            try:
                await listener.open()
            except (OSError, TimeoutError, websockets.WebSocketException) as exc:
                tally.failed[_reason(exc)] += 1
                return False
            return True

    opened = await asyncio.gather(*(one(listener) for listener in listeners))
    return [listener for listener, ok in zip(listeners, opened, strict=True) if ok]


def _reason(exc: Exception) -> str:
    """The exception's class; for a refusal by the server (an error frame), its code."""
    return f"{type(exc).__name__} {exc}" if isinstance(exc, ConnectionError) else type(exc).__name__


def hold_sockets(signals: Signals, url: str, specs: list[SocketSpec]) -> None:
    """Open sockets, report ready, listen until `stop`; delivery latencies back."""
    _run_worker(signals, _hold_sockets(signals, url, specs))


async def _hold_sockets(signals: Signals, url: str, specs: list[SocketSpec]) -> dict[str, Any]:
    tally = Tally(signals.delivered)
    started = time.monotonic()
    listeners = await open_all([Listener(url, spec, tally) for spec in specs], tally)
    signals.ready.put({"opened": len(listeners), "open_seconds": time.monotonic() - started})
    tasks = [asyncio.create_task(listener.listen()) for listener in listeners]
    await _wait(signals.stop)
    await asyncio.gather(*(listener.close() for listener in listeners), return_exceptions=True)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {
        "opened": len(listeners),
        "failed": dict(tally.failed),
        "closed_by_server": dict(tally.closed),
        "latencies": tally.latencies,
    }


# ---------------------------------------------------------------------- sending


@dataclass(frozen=True, slots=True)
class Sender:
    """A signed-in user and the conversations they send to, in turn."""

    token: str
    conversations: list[str]


def send_messages(
    signals: Signals,
    base_url: str,
    senders: list[Sender],
    seconds: float,
    rate: float | None,
    in_flight: int,
) -> None:
    """POST messages for `seconds`: each sender in a loop (rate None: as fast as the
    server answers), or paced at `rate` a second in total, open loop (a slow answer does
    not slow the offered load, up to `in_flight` outstanding requests)."""
    _run_worker(signals, _send_messages(signals, base_url, senders, seconds, rate, in_flight))


async def _send_messages(
    signals: Signals,
    base_url: str,
    senders: list[Sender],
    seconds: float,
    rate: float | None,
    in_flight: int,
) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=in_flight, max_keepalive_connections=in_flight)
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    revisions: dict[str, int] = {}
    turns = [itertools.cycle(sender.conversations) for sender in senders]
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60) as client:

        async def send(index: int, who: int) -> None:
            conversation = next(turns[who])
            began = time.perf_counter()
            try:
                response = await client.post(
                    f"/api/v1/conversations/{conversation}/messages",
                    json={"body": stamped_body(index), "client_msg_id": uuid.uuid4().hex},
                    headers={"Authorization": f"Bearer {senders[who].token}"},
                )
            except httpx.HTTPError as exc:
                statuses[type(exc).__name__] += 1
                return
            statuses[str(response.status_code)] += 1
            if response.status_code == 201:
                latencies.append((time.perf_counter() - began) * 1000)
                revision = response.json()["revision"]
                revisions[conversation] = max(revisions.get(conversation, 0), revision)

        await client.get("/health")  # one connection warm before the clock starts
        signals.ready.put({})
        await _wait(signals.go)
        began = time.monotonic()
        if rate is None:
            await _closed_loop(send, len(senders), seconds)
        else:
            await _open_loop(send, len(senders), rate, seconds, in_flight)
        elapsed = time.monotonic() - began
    return {
        "sent": len(latencies),
        "statuses": dict(statuses),
        "latencies": latencies,
        "elapsed": elapsed,
        "revisions": revisions,
    }


async def _closed_loop(
    send: Callable[[int, int], Awaitable[None]], workers: int, seconds: float
) -> None:
    deadline = time.monotonic() + seconds
    numbers = itertools.count()

    async def loop(who: int) -> None:
        while time.monotonic() < deadline:
            await send(next(numbers), who)

    await asyncio.gather(*(loop(who) for who in range(workers)))


async def _open_loop(
    send: Callable[[int, int], Awaitable[None]],
    senders: int,
    rate: float,
    seconds: float,
    in_flight: int,
) -> None:
    slots = asyncio.Semaphore(in_flight)
    tasks: set[asyncio.Task[None]] = set()
    start = time.monotonic()
    for index in range(int(rate * seconds)):
        delay = start + index / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        await slots.acquire()
        task = asyncio.create_task(send(index, index % senders))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        task.add_done_callback(lambda _: slots.release())
    await asyncio.gather(*tasks)


def relay_messages(
    signals: Signals, url: str, rooms: list[str], seconds: float, rate: float | None
) -> None:
    """The bare relay's sender: one socket per room sending stamped frames, paced at
    `rate` in total or (None) as fast as each socket can write."""
    _run_worker(signals, _relay_messages(signals, url, rooms, seconds, rate))


async def _relay_messages(
    signals: Signals, url: str, rooms: list[str], seconds: float, rate: float | None
) -> dict[str, Any]:
    tally = Tally(signals.delivered)
    hello = SocketSpec(json.dumps({"type": "join", "rooms": []}))
    sockets = await open_all([Listener(url, hello, tally) for _ in rooms], tally)
    signals.ready.put({})
    await _wait(signals.go)
    sent = itertools.count()

    async def send(index: int, who: int) -> None:
        frame = {"type": "relay", "room": rooms[who], "body": stamped_body(index)}
        assert sockets[who].socket is not None
        await sockets[who].socket.send(json.dumps(frame))
        next(sent)

    began = time.monotonic()
    if rate is None:
        await _closed_loop(send, len(sockets), seconds)
    else:
        await _open_loop(send, len(sockets), rate, seconds, in_flight=len(sockets))
    elapsed = time.monotonic() - began
    await asyncio.gather(*(s.close() for s in sockets), return_exceptions=True)
    return {"sent": next(sent), "elapsed": elapsed}


# ------------------------------------------------------------------- sign-ins


def sign_in_storm(
    signals: Signals, base_url: str, accounts: list[tuple[str, str]], concurrency: int
) -> None:
    """Sign in over and over (`concurrency` at once) from `go` until `stop`."""
    _run_worker(signals, _sign_in_storm(signals, base_url, accounts, concurrency))


async def _sign_in_storm(
    signals: Signals, base_url: str, accounts: list[tuple[str, str]], concurrency: int
) -> dict[str, Any]:
    statuses: Counter[str] = Counter()
    latencies: list[float] = []
    turns = itertools.cycle(accounts)
    async with httpx.AsyncClient(base_url=base_url, timeout=120) as client:
        signals.ready.put({})
        await _wait(signals.go)
        began = time.monotonic()

        async def loop() -> None:
            while not signals.stop.is_set():
                email, password = next(turns)
                started = time.perf_counter()
                try:
                    response = await client.post(
                        "/api/v1/auth/login", json={"email": email, "password": password}
                    )
                except httpx.HTTPError as exc:
                    statuses[type(exc).__name__] += 1
                    continue
                statuses[str(response.status_code)] += 1
                if response.status_code == 200:
                    latencies.append((time.perf_counter() - started) * 1000)

        await asyncio.gather(*(loop() for _ in range(concurrency)))
        elapsed = time.monotonic() - began
    return {
        "signed_in": len(latencies),
        "statuses": dict(statuses),
        "latencies": latencies,
        "elapsed": elapsed,
    }


# ---------------------------------------------------------------------- resume


def resume_after_outage(signals: Signals, url: str, specs: list[SocketSpec]) -> None:
    """Connect, keep the cursors of `ready`, drop every socket on `disconnect`, and on
    `reconnect` come back at once and resume; report when each was caught up and
    whether any revision was missing."""
    _run_worker(signals, _resume_after_outage(signals, url, specs))


@dataclass
class _Resumer:
    url: str
    spec: SocketSpec
    cursors: dict[str, int] = field(default_factory=dict)
    received: dict[str, list[int]] = field(default_factory=dict)
    resumed: dict[str, int] = field(default_factory=dict)
    caught_up_at: float = 0.0

    async def resume(self) -> None:
        async with websockets.connect(
            self.url, max_size=None, ping_interval=None, open_timeout=SOCKET_TIMEOUT_SECONDS
        ) as socket:
            await socket.send(self.spec.hello)
            ready = json.loads(await socket.recv())
            if ready.get("type") != "ready":
                raise ConnectionError(ready.get("code"))
            await socket.send(json.dumps({"type": "resume", "cursors": self.cursors}))
            async for raw in socket:
                frame = json.loads(raw)
                if frame.get("type") in ("message.created", "message.updated"):
                    conversation = frame["conversation_id"]
                    self.received.setdefault(conversation, []).append(frame["revision"])
                elif frame.get("type") == "resumed":
                    self.resumed = frame["conversations"]
                    self.caught_up_at = time.monotonic()
                    return
                elif frame.get("type") == "error":
                    raise ConnectionError(frame.get("code"))

    def missing(self) -> int:
        """Revisions between the cursor and the resumed revision that never arrived."""
        gaps = 0
        for conversation, cursor in self.cursors.items():
            wanted = set(range(cursor + 1, self.resumed.get(conversation, cursor) + 1))
            gaps += len(wanted - set(self.received.get(conversation, [])))
        return gaps


async def _resume_after_outage(
    signals: Signals, url: str, specs: list[SocketSpec]
) -> dict[str, Any]:
    resumers = [_Resumer(url, spec) for spec in specs]
    slots = asyncio.Semaphore(CONNECTS_AT_ONCE)
    failures: Counter[str] = Counter()
    # Before the outage: each client learns its cursors; its socket is then dropped at
    # once (all sockets of all workers close together when `disconnect` is set).
    live: list[ClientConnection] = []

    async def first_connect(resumer: _Resumer) -> None:
        # Setting up, like a real client: a refused or dropped connect is tried again
        # (counted under `failed`), so a busy moment does not end the scenario.
        for attempt in range(1, SETUP_ATTEMPTS + 1):
            try:
                async with slots:
                    socket = await websockets.connect(
                        url, max_size=None, ping_interval=None, open_timeout=SOCKET_TIMEOUT_SECONDS
                    )
                    await socket.send(resumer.spec.hello)
                    ready = json.loads(await socket.recv())
            except (OSError, TimeoutError, websockets.WebSocketException) as exc:
                failures[f"before the outage: {type(exc).__name__}"] += 1
                if attempt == SETUP_ATTEMPTS:
                    raise
                await asyncio.sleep(attempt)
            else:
                resumer.cursors = dict(ready["conversations"])
                live.append(socket)
                return

    await asyncio.gather(*(first_connect(r) for r in resumers))
    signals.ready.put({"opened": len(live)})
    await _wait(signals.disconnect, SOCKET_TIMEOUT_SECONDS)
    await asyncio.gather(*(socket.close() for socket in live), return_exceptions=True)
    signals.ready.put({"closed": len(live)})
    await _wait(signals.reconnect, SOCKET_TIMEOUT_SECONDS * 2)

    async def come_back(resumer: _Resumer) -> None:
        try:
            await asyncio.wait_for(resumer.resume(), SOCKET_TIMEOUT_SECONDS)
        except (OSError, TimeoutError, websockets.WebSocketException) as exc:
            failures[type(exc).__name__] += 1

    await asyncio.gather(*(come_back(r) for r in resumers))
    done = [r for r in resumers if r.caught_up_at]
    lowest: dict[str, int] = {}
    for resumer in done:
        for conversation, revision in resumer.resumed.items():
            lowest[conversation] = min(revision, lowest.get(conversation, revision))
    return {
        "clients": len(resumers),
        "caught_up": len(done),
        "failed": dict(failures),
        "missing": sum(r.missing() for r in done),
        "last_caught_up_seconds": max(
            (r.caught_up_at - signals.reconnect_at.value for r in done), default=None
        ),
        "resumed_revisions": lowest,
        "messages_replayed": sum(len(v) for r in done for v in r.received.values()),
    }
