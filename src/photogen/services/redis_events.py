"""Job events through Redis, for API servers and workers in separate processes or hosts.

Per job, Redis keeps:
- `<prefix>:job:<id>:seq`: the last sequence number (INCR), so seqs are one series whatever process publishes;
- `<prefix>:job:<id>:events`: the newest MAX_EVENTS_PER_JOB events as JSON, in seq order;
- `<prefix>:job:<id>:cancel`: a flag that asks the running job to stop.
All three expire: LIVE_TTL_S after the last event of a live job, keep_finished_s after its end. Each publish and
cancel is also announced on the pub/sub channel `<prefix>:events`, which wakes the SSE streams of every API
process at once (a listener thread per process, started with its first stream).

Cancels and job ends are announced on `<prefix>:cancels` as well. A worker asks `cancel_requested` before every
model block, so it does not ask Redis each time: from its first question on, a second listener thread keeps the
cancels it hears, and a job's flag is read from Redis once after that listener has subscribed (a cancel made
before then); later ones arrive on the channel. Whenever the connection fails the process forgets what it heard
and reads the flags again.

This module imports redis-py; the container imports it only when PHOTOGEN_EVENTS_URL is set.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

import redis

from photogen.domain.errors import PhotogenError
from photogen.services.events import (
    KEEP_FINISHED_S,
    EventWaiter,
    EventWaiters,
    JobLabels,
    is_terminal,
    log_state,
)

MAX_EVENTS_PER_JOB = 5000
LIVE_TTL_S = 24 * 3600
LISTEN_RETRY_S = 1.0
REDIS_TIMEOUT_S = 5.0
MAX_REMEMBERED_JOBS = 100_000  # flags read as not set, kept per process; past this many they are read again
log = logging.getLogger("photogen.events")

# Atomic: the next seq, the event (JSON from Python, seq spliced in first) appended with it, the list trimmed, the expiry set, the channel told. Two
# processes publishing for one job can never store their events out of seq order. With ARGV[6] '1' (only_first),
# nothing happens once the job has a seq.
PUBLISH = """
if ARGV[6] == '1' and redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local seq = redis.call('INCR', KEYS[1])
redis.call('RPUSH', KEYS[2], '{"seq": ' .. seq .. ', ' .. string.sub(ARGV[1], 2))
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[2]), -1)
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[3])
if ARGV[4] == '1' then
  redis.call('DEL', KEYS[3])
  redis.call('PUBLISH', KEYS[5], '{"job": ' .. ARGV[5] .. ', "ended": true}')
end
redis.call('PUBLISH', KEYS[4], '{"job": ' .. ARGV[5] .. ', "seq": ' .. seq .. '}')
return seq
"""

# The events after ARGV[1]: their seqs run on without gaps inside the list, so the first one kept says where to
# start, and a client that already has most of a long job's events is sent only the new ones.
SINCE = """
local first = redis.call('LINDEX', KEYS[1], 0)
if not first then return {} end
local first_seq = tonumber(string.match(first, '^{"seq": (%d+)'))
local start = math.max(0, tonumber(ARGV[1]) - first_seq + 1)
return redis.call('LRANGE', KEYS[1], start, -1)
"""


class RedisEvents:
    in_memory = False

    def __init__(self, url: str, labels: JobLabels | None = None, *, prefix: str = "photogen",
                 keep_finished_s: float = KEEP_FINISHED_S, max_events: int = MAX_EVENTS_PER_JOB) -> None:
        self.labels = labels
        self.max_events = max_events
        self.keep_finished_s = keep_finished_s
        self._prefix = prefix
        self._channel = f"{prefix}:events"
        self._cancels_channel = f"{prefix}:cancels"
        self._redis = redis.Redis.from_url(url, decode_responses=True, health_check_interval=30,
                                           socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S)
        self._publish = self._redis.register_script(PUBLISH)
        self._since = self._redis.register_script(SINCE)
        self._waiters = EventWaiters()
        self._listener: threading.Thread | None = None
        self._listener_lock = threading.Lock()
        self._stop = threading.Event()
        # What this process heard on the cancels channel; valid while `_hearing_cancels` is set.
        self._cancels_lock = threading.Lock()
        self._canceled: set[str] = set()  # jobs whose cancel was announced or read
        self._not_canceled: set[str] = set()  # flags read while subscribed: later cancels come on the channel
        self._hearing_cancels = False
        self._hearing_round = 0  # counts subscriptions and losses: a read is kept only within one round
        self._cancel_listener: threading.Thread | None = None

    def _key(self, job_id: str, part: str) -> str:
        return f"{self._prefix}:job:{job_id}:{part}"

    def check(self) -> None:
        """Refuse to start when Redis cannot be reached (it says why in a word, never the URL's password)."""
        try:
            self._redis.ping()
        except redis.RedisError as error:
            raise PhotogenError(f"cannot reach Redis at PHOTOGEN_EVENTS_URL ({type(error).__name__})",
                                code="invalid_settings", hint="start Redis or correct the URL") from None

    # The database stays the record, so a Redis outage degrades live events instead of failing jobs or requests:
    # a lost event is logged, streams fall back to the job's row, and cancels still arrive through the row's
    # flag, which running jobs read every second.

    def publish(self, job_id: str, kind: str, *, labels: tuple[str, str] | None = None, only_first: bool = False,
                **data: Any) -> None:
        finished = is_terminal(kind, data)
        if finished:
            self._forget_job(job_id)
        try:
            self._publish(**self._publish_call(job_id, kind, data, finished, only_first))
        except redis.RedisError as error:
            self._forget_cancels()
            log.warning("job %s: %s event not published to Redis (%s)", job_id, kind, type(error).__name__)
        if kind == "state":
            log_state(self.labels, job_id, data, labels)

    def publish_progress(self, steps: Sequence[tuple[str, dict[str, Any]]]) -> None:
        """One round trip for the whole batch."""
        try:
            with self._redis.pipeline(transaction=False) as pipe:
                for job_id, data in steps:
                    self._publish(**self._publish_call(job_id, "progress", data, False), client=pipe)
                pipe.execute()
        except redis.RedisError as error:
            self._forget_cancels()
            log.warning("progress events of %d jobs not published to Redis (%s)", len(steps), type(error).__name__)

    def _publish_call(self, job_id: str, kind: str, data: dict[str, Any], finished: bool,
                      only_first: bool = False) -> dict[str, list]:
        ttl = max(1, round(self.keep_finished_s)) if finished else LIVE_TTL_S
        keys = [self._key(job_id, "seq"), self._key(job_id, "events"), self._key(job_id, "cancel"), self._channel,
                self._cancels_channel]
        event = json.dumps({"event": kind, **data})
        return {"keys": keys, "args": [event, self.max_events, ttl, "1" if finished else "0", json.dumps(job_id),
                                       "1" if only_first else "0"]}

    def since(self, job_id: str, seq: int) -> list[dict[str, Any]]:
        try:
            kept = self._since(keys=[self._key(job_id, "events")], args=[max(0, int(seq))])
        except redis.RedisError as error:
            self._forget_cancels()
            log.warning("job %s: events not read from Redis (%s)", job_id, type(error).__name__)
            return []
        return [e for e in map(json.loads, kept) if e["seq"] > seq]

    def request_cancel(self, job_id: str) -> None:
        try:
            with self._redis.pipeline() as pipe:
                pipe.set(self._key(job_id, "cancel"), "1", ex=LIVE_TTL_S)
                announcement = json.dumps({"job": job_id, "cancel": True})
                pipe.publish(self._channel, announcement)
                pipe.publish(self._cancels_channel, announcement)
                pipe.execute()
        except redis.RedisError as error:
            self._forget_cancels()
            log.warning("job %s: cancel not sent through Redis (%s)", job_id, type(error).__name__)

    def cancel_requested(self, job_id: str) -> bool:
        """From what the cancels channel said when this process listens to it; from Redis otherwise."""
        with self._cancels_lock:
            if job_id in self._canceled:
                return True
            if job_id in self._not_canceled:
                return False
            # subscribed before the read: a cancel made after it is heard on the channel
            round_before = self._hearing_round if self._hearing_cancels else None
        self._start_cancel_listener()
        try:
            flag = bool(self._redis.exists(self._key(job_id, "cancel")))
        except redis.RedisError as error:
            self._forget_cancels()
            log.warning("job %s: cancel flag not read from Redis (%s)", job_id, type(error).__name__)
            return False
        with self._cancels_lock:
            if flag:
                self._canceled.add(job_id)
            elif round_before is not None and round_before == self._hearing_round:
                if len(self._not_canceled) >= MAX_REMEMBERED_JOBS:
                    self._not_canceled.clear()
                self._not_canceled.add(job_id)
        return flag

    def waiter(self, job_id: str) -> EventWaiter:
        self._start_listener()
        return self._waiters.add(job_id)

    def close(self) -> None:
        self._stop.set()
        for listener in (self._listener, self._cancel_listener):
            if listener is not None:
                listener.join(timeout=5)
        self._waiters.wake_all()
        self._redis.close()

    # -- the pub/sub listeners: one wakes this process's SSE streams, one keeps the cancels it hears -----------

    def _start_listener(self) -> None:
        with self._listener_lock:
            if self._listener is None:
                self._listener = threading.Thread(target=self._listen, name="photogen-events", daemon=True,
                                                  args=(self._channel, self._on_event, self._waiters.wake_all))
                self._listener.start()

    def _start_cancel_listener(self) -> None:
        with self._listener_lock:
            if self._cancel_listener is None:
                self._cancel_listener = threading.Thread(
                    target=self._listen, name="photogen-cancels", daemon=True,
                    args=(self._cancels_channel, self._on_cancel, self._on_cancels_subscribed))
                self._cancel_listener.start()

    def _on_event(self, message: dict[str, Any]) -> None:
        self._waiters.wake(message["job"])

    def _on_cancel(self, message: dict[str, Any]) -> None:
        if message.get("cancel"):
            with self._cancels_lock:
                self._canceled.add(message["job"])
        elif message.get("ended"):
            self._forget_job(message["job"])

    def _on_cancels_subscribed(self) -> None:
        with self._cancels_lock:
            self._hearing_cancels = True
            self._hearing_round += 1

    def _on_cancels_lost(self) -> None:
        with self._cancels_lock:
            self._hearing_cancels = False
            self._hearing_round += 1

    def _forget_job(self, job_id: str) -> None:
        with self._cancels_lock:
            self._canceled.discard(job_id)
            self._not_canceled.discard(job_id)

    def _forget_cancels(self) -> None:
        """After a failed call: what was heard may be missing cancels; read the flags from Redis again."""
        with self._cancels_lock:
            self._canceled.clear()
            self._not_canceled.clear()
            self._hearing_round += 1

    def _listen(self, channel: str, on_message: Callable[[dict[str, Any]], None],
                on_subscribed: Callable[[], None]) -> None:
        while not self._stop.is_set():
            try:
                with self._redis.pubsub() as pubsub:
                    pubsub.subscribe(channel)
                    while not self._stop.is_set():
                        message = pubsub.get_message(timeout=1.0)
                        if message is None:
                            continue
                        if message["type"] == "subscribe":  # confirmed: every later publish reaches us, so
                            on_subscribed()                # what came before is read again now
                        elif message["type"] == "message":
                            on_message(json.loads(message["data"]))
            except redis.RedisError:
                log.warning("lost the Redis channel %s; retrying in %g s", channel, LISTEN_RETRY_S, exc_info=True)
                if channel == self._cancels_channel:
                    self._on_cancels_lost()
                self._forget_cancels()
                self._waiters.wake_all()
                self._stop.wait(LISTEN_RETRY_S)
