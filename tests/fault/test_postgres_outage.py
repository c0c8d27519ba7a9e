"""Issue item 5: while the private PostgreSQL is down (a fast shutdown, ~10 s), every answer under
/api/ is a JSON 503 with Retry-After — never Django's HTML 500, never a traceback; every record
acknowledged with 2xx is stored and none answered with an error is; once PostgreSQL is back,
posts succeed again on the same Daphne process."""

import threading
import time

from load import Checks, Recorder, api_contract_problems, join_all, posting_loop, run_threads, wait_until

OUTAGE_SECONDS = 10


def test_a_postgres_outage_answers_503_and_loses_no_acknowledged_record(stack, daphne, stored):
    # A short pool timeout: a request waits at most 2 s for a connection before its 503.
    server = daphne(DB_POOL_TIMEOUT=2, FLOWTOWER_THROTTLE_TOKEN="1000000/min")
    recorder, stop = Recorder(), threading.Event()
    clients = run_threads(4, posting_loop(server.url, stack.token, recorder, "pg", pause=0.05, read_every=2), stop)
    wait_until(lambda: sum(o.acknowledged for o in recorder.posts()) >= 10, 30, "posts before the outage")

    stack.pg.stop()
    outage_start = time.monotonic()
    time.sleep(OUTAGE_SECONDS)
    outage_end = time.monotonic()
    stack.pg.start()
    back = time.monotonic()
    # Recovery without a restart: within a few pool timeouts the posts get through again.
    wait_until(lambda: any(o.acknowledged for o in recorder.posts() if o.started > back), 30, "a post after restart")
    recovered = time.monotonic()
    time.sleep(3)
    stop.set()
    assert not join_all(clients, timeout=60), "clients still waiting for answers"
    assert server.proc.poll() is None, "the server process died"

    check = Checks()
    unanswered = [o for o in recorder.outcomes if o.status is None]
    check(not unanswered, lambda: f"{len(unanswered)} requests got no answer, first: {unanswered[0]}")
    problems = [p for o in recorder.outcomes for p in api_contract_problems(o)]
    check(not problems, lambda: f"{len(problems)} answers break the API's contract, e.g. {problems[:3]}")
    other_5xx = [o for o in recorder.server_errors() if o.status != 503]
    check(not other_5xx, lambda: f"{len(other_5xx)} 5xx other than 503, first: {other_5xx[0]}")

    during = recorder.between(outage_start + 0.5, outage_end)
    not_503 = [o for o in during if o.status != 503]
    check(len(during) >= 4, f"too few requests during the outage to show anything: {len(during)}")
    check(not not_503, lambda: f"{len(not_503)} of {len(during)} answers during the outage not 503: {not_503[0]}")

    after = [o for o in recorder.posts() if o.started >= recovered]
    failed_after = [o for o in after if not o.acknowledged]
    check(after and not failed_after, lambda: f"posts after recovery: {len(after)}, failed e.g. {failed_after[:1]}")

    posts = recorder.posts()
    saved = stored("pg")
    lost = {o.message for o in posts if o.acknowledged} - saved
    check(not lost, lambda: f"{len(lost)} acknowledged posts were lost, e.g. {sorted(lost)[:3]}")
    stored_refused = {o.message for o in posts if o.refused} & saved
    check(not stored_refused, lambda: f"{len(stored_refused)} posts answered with an error were stored")
    check.done()
