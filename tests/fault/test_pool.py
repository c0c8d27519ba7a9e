"""Issue item 2: one Daphne process took every PostgreSQL connection under load (each thread of
the ASGI sync pool kept its own). With Django's connection pool a process holds at most
DB_POOL_MAX_SIZE connections, and 50 concurrent clients still get answers, none a 5xx."""

import threading

from load import Checks, Recorder, join_all, posting_loop, run_threads

POOL_MAX = 8
CLIENTS = 50
SECONDS = 10


def sample_connections(stack, peak, stop):
    """Count the app database's connections every 50 ms (not this sampling connection)."""
    with stack.db() as conn:
        while not stop.wait(0.05):
            peak.append(stack.pg.connections(stack.DBNAME, conn))


def test_fifty_concurrent_clients_never_use_more_connections_than_the_pool_allows(stack, daphne, stored):
    server = daphne(DB_POOL_MAX_SIZE=POOL_MAX, FLOWTOWER_THROTTLE_TOKEN="1000000/min")
    recorder, stop, sampling_stop, samples = Recorder(), threading.Event(), threading.Event(), []
    sampler = threading.Thread(target=sample_connections, args=(stack, samples, sampling_stop), daemon=True)
    sampler.start()
    clients = run_threads(CLIENTS, posting_loop(server.url, stack.token, recorder, "pool", read_every=2), stop)
    stop.wait(SECONDS)
    stop.set()
    stuck = join_all(clients, timeout=60)
    sampling_stop.set()
    sampler.join(10)

    check = Checks()
    check(not stuck, f"{len(stuck)} clients still waiting for an answer")
    errors = recorder.server_errors()
    check(not errors, lambda: f"5xx answers: {recorder.statuses()}, first {errors[0]}")
    unanswered = [o for o in recorder.outcomes if o.status is None]
    check(not unanswered, lambda: f"{len(unanswered)} requests got no answer, first: {unanswered[0]}")
    acknowledged = {o.message for o in recorder.posts() if o.acknowledged}
    check(len(acknowledged) >= CLIENTS, lambda: f"too little got through to show anything: {recorder.statuses()}")
    check(acknowledged <= stored("pool"), "an acknowledged post is missing from the database")
    check(samples and max(samples) <= POOL_MAX, lambda: f"up to {max(samples)} connections (pool maximum {POOL_MAX})")
    check.done()
