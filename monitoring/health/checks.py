"""The core checks of /healthz: what a Flowtower process needs to serve (critical) and what keeps
its background work going (not critical). Each is bounded by a short timeout, so a probe gets its
answer in about a second even when a backing service hangs."""

import asyncio
import secrets
import threading
import time
from datetime import timedelta

from django.conf import settings
from django.db import connection

from . import register_check

TIMEOUT_SECONDS = 2  # database statement / pool wait, Redis socket, channel layer round trip
WORKER_PING_TIMEOUT = 1.0
# A Celery control ping waits its whole timeout for replies: remembered this long per process, so
# a blackbox exporter probing every few seconds costs one ping per interval, not one per probe.
WORKER_PING_CACHE_SECONDS = 10
# Beat sends the n8n sync every 10 s and the alert evaluations every minute: none of its interval
# tasks having run for this long means beat is not running (or not writing to the database).
BEAT_STALE_AFTER = timedelta(minutes=3)


def _no_broker() -> bool:
    """The demo without Redis: tasks run in the web process, there is no worker or beat to check."""
    return settings.CELERY_BROKER_URL.startswith("memory://")


def database():
    """A trivial query, waiting at most TIMEOUT_SECONDS for a connection and for the answer."""
    pool = getattr(connection, "pool", None)
    if pool is not None:
        # Straight from the process's pool with a short wait: Django's own checkout waits
        # DB_POOL_TIMEOUT (10 s by default), too long for a probe.
        pool.open()
        with pool.connection(timeout=TIMEOUT_SECONDS) as conn, conn.transaction():
            conn.execute(f"SET LOCAL statement_timeout = {TIMEOUT_SECONDS * 1000}")
            conn.execute("SELECT 1")
    else:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    return {"ok": True, "detail": "query answered"}


def redis():
    if not settings.REDIS_URL:
        return {"ok": True, "detail": "not configured (in-memory cache and channel layer)"}
    import redis as redis_py

    client = redis_py.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=TIMEOUT_SECONDS,
                                     socket_timeout=TIMEOUT_SECONDS)
    try:
        client.ping()
    finally:
        client.close()
    return {"ok": True, "detail": "PING answered"}


def channel_layer():
    """A real message through the layer (what live pages use): sent to a throwaway channel and read
    back, so a layer that accepts messages but cannot deliver them fails too."""
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    if layer is None:
        return {"ok": False, "detail": "no channel layer configured"}

    async def round_trip():
        channel = await layer.new_channel("healthz.")
        nonce = secrets.token_hex(8)
        await layer.send(channel, {"type": "healthz.ping", "nonce": nonce})
        message = await layer.receive(channel)
        return message.get("nonce") == nonce

    async def bounded():
        return await asyncio.wait_for(round_trip(), TIMEOUT_SECONDS)

    try:
        delivered = async_to_sync(bounded)()
    except asyncio.TimeoutError:
        return {"ok": False, "detail": f"no message back within {TIMEOUT_SECONDS} s"}
    return {"ok": delivered, "detail": "message delivered" if delivered else "another message came back"}


def celery_beat():
    """Beat writes each periodic task's last run to the database (after every task it sends, see
    CELERY_BEAT_SYNC_EVERY): the newest run of the enabled interval tasks says whether it runs."""
    if _no_broker():
        return {"ok": True, "detail": "not used (no broker: tasks run in the web process)"}
    from django.db.models import Max
    from django.utils import timezone
    from django_celery_beat.models import PeriodicTask

    tasks = PeriodicTask.objects.filter(enabled=True, interval__isnull=False)
    newest = tasks.aggregate(newest=Max("last_run_at"))["newest"]
    if not tasks.exists():
        return {"ok": True, "detail": "no enabled interval task to judge beat by"}
    if newest is None:
        return {"ok": False, "detail": "no enabled interval task has run yet", "last_run_seconds_ago": None}
    ago = int((timezone.now() - newest).total_seconds())
    ok = ago <= BEAT_STALE_AFTER.total_seconds()
    stale_after = int(BEAT_STALE_AFTER.total_seconds())
    detail = f"last interval task sent {ago} s ago" + ("" if ok else f" (stale after {stale_after} s)")
    return {"ok": ok, "detail": detail, "last_run_seconds_ago": ago}


_worker_lock = threading.Lock()
_worker_cache: dict = {}  # {"at": monotonic time, "result": dict}


def forget_worker_ping():
    """Drop the remembered answer (tests starting and stopping a worker)."""
    _worker_cache.clear()


def _ping_workers() -> dict:
    from config.celery import app

    replies = app.control.ping(timeout=WORKER_PING_TIMEOUT)
    count = len(replies or [])
    if count:
        return {"ok": True, "detail": f"{count} worker(s) answered a ping", "workers": count}
    return {"ok": False, "detail": f"no worker answered a ping within {WORKER_PING_TIMEOUT:g} s", "workers": 0}


def celery_workers():
    if _no_broker():
        return {"ok": True, "detail": "not used (no broker: tasks run in the web process)"}
    # One ping at a time per process; concurrent probes wait for it and share its answer.
    with _worker_lock:
        cached = _worker_cache.get("at")
        if cached is None or time.monotonic() - cached > WORKER_PING_CACHE_SECONDS:
            try:
                result = _ping_workers()
            except Exception as exc:  # noqa: BLE001 - remembered like any other answer
                result = {"ok": False, "detail": f"broker unreachable ({type(exc).__name__})", "workers": 0}
            _worker_cache.update(at=time.monotonic(), result=result)
        return dict(_worker_cache["result"])


register_check("database", database, critical=True)
register_check("redis", redis, critical=True)
register_check("channel_layer", channel_layer, critical=True)
register_check("celery_beat", celery_beat, needs=["database"])
register_check("celery_workers", celery_workers, needs=["redis"])
