"""Issue item 4: Redis is a cache and a channel layer here, not the system of record. While the
private redis-server is down, posts through the real server are still stored and answered,
reads work, and the operator is told in the log; when it comes back, throttling counts in Redis
again and live updates reach the web UI again — without restarting anything."""

import json
import threading
import time

import redis

from load import (Checks, Client, Recorder, api_contract_problems, join_all, live_messages_until, open_live_socket,
                  posting_loop, run_threads, sign_in, wait_until)
from servers import VIEWER

OUTAGE_SECONDS = 5


def warnings_logged(log_text):
    """Records of level WARNING or worse in the server's JSON log."""
    found = []
    for line in log_text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("level") in ("WARNING", "ERROR", "CRITICAL"):
            found.append(record)
    return found


def post_and_watch_live(server, stack, viewer, message):
    """Post one log with a fresh socket open: did the web UI's live updates carry it?"""
    sock = open_live_socket(server.url, viewer)
    try:
        posted = Client(server.url, stack.token, Recorder()).post_log(message)
        assert posted.status == 201, posted
        return live_messages_until(sock, message, 10)
    finally:
        sock.close()


def test_a_redis_outage_loses_no_post_and_everything_recovers(stack, daphne, stored):
    # Plain HTTP here, so the session and CSRF cookies must not be marked Secure.
    server = daphne(SESSION_COOKIE_SECURE="false", CSRF_COOKIE_SECURE="false")
    viewer = sign_in(server.url, VIEWER, stack.password)
    assert post_and_watch_live(server, stack, viewer, "redis-live-before"), "no live update before the outage"

    # Under the default rate limit (1200/min per token): three clients posting and reading.
    recorder, stop = Recorder(), threading.Event()
    clients = run_threads(3, posting_loop(server.url, stack.token, recorder, "redis", pause=0.2, read_every=2), stop)
    wait_until(lambda: sum(o.acknowledged for o in recorder.posts()) >= 10, 30, "posts before the outage")

    stack.redis.stop()
    outage_start, log_before = time.monotonic(), len(server.log_text())
    time.sleep(OUTAGE_SECONDS)
    outage_end = time.monotonic()
    outage_log = server.log_text()[log_before:]
    stack.redis.start()
    time.sleep(3)
    recovered = time.monotonic()
    live_after = post_and_watch_live(server, stack, viewer, "redis-live-after")
    time.sleep(2)
    stop.set()
    assert not join_all(clients, timeout=60), "clients still waiting for answers"

    check = Checks()
    errors = recorder.server_errors()
    check(not errors, lambda: f"5xx answers: {recorder.statuses()}, first {errors[0]}")
    problems = [p for o in recorder.outcomes for p in api_contract_problems(o)]
    check(not problems, lambda: f"{len(problems)} answers break the API's contract, e.g. {problems[:3]}")

    during = recorder.between(outage_start, outage_end)
    posted_during = [o for o in during if o.message is not None]
    failed_during = [o for o in posted_during if not o.acknowledged]
    check(posted_during and not failed_during,
          lambda: f"posts during the outage: {len(posted_during)}, failed e.g. {[str(o) for o in failed_during[:2]]}")
    for path in ("/api/v1/logs/", "/api/workflows/monitoring?type=logs"):
        reads = [o for o in during if o.method == "GET" and o.path == path]
        failed_reads = [str(o) for o in reads if o.status != 200]
        check(reads and not failed_reads, f"reads of {path} during the outage: {len(reads)}, failed e.g. {failed_reads[:2]}")
    check(warnings_logged(outage_log), "the outage was not reported in the server log (no WARNING or worse)")
    check(live_after, "live updates did not come back after the outage")

    after = [o for o in recorder.posts() if o.started >= recovered]
    failed_after = [o for o in after if not o.acknowledged]
    check(after and not failed_after, lambda: f"posts after recovery: {len(after)}, failed e.g. {failed_after[:1]}")
    # Throttling counts in Redis again (the restarted Redis started empty).
    check(redis.Redis.from_url(stack.redis.url()).keys("*throttle*"), "no throttle counter in Redis after recovery")

    posts = recorder.posts()
    saved = stored("redis")
    lost = {o.message for o in posts if o.acknowledged} - saved
    check(not lost, lambda: f"{len(lost)} acknowledged posts were lost, e.g. {sorted(lost)[:3]}")
    check(not {o.message for o in posts if o.refused} & saved, "a refused post was stored")
    check.done()
