"""Fixtures for the fault tests: one private redis-server + PostgreSQL cluster (migrated, with a
team and a service token) for the whole session, and Daphne processes started per test with the
settings each test needs. A missing binary fails the tests with a message; nothing is skipped."""

import pytest

from servers import Stack


@pytest.fixture(scope="session")
def stack():
    stack = Stack()
    try:
        yield stack.start()
    finally:
        stack.close()


@pytest.fixture
def daphne(stack):
    """Start a Daphne process: daphne(**env_overrides). Stopped (killed if frozen) after the test;
    the private Redis and PostgreSQL are running again whatever the test did to them."""
    started = []

    def start(**overrides):
        server = stack.daphne(**overrides)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
    if stack.redis.proc is None:
        stack.redis.start()
    stack.pg.start_if_stopped()


@pytest.fixture
def stored(stack):
    """The messages of stored logs starting with a prefix, read straight from PostgreSQL."""

    def messages(prefix):
        with stack.db() as conn:
            rows = conn.execute("SELECT message FROM monitoring_executionlog WHERE message LIKE %s",
                                [prefix + "-%"]).fetchall()
        return {m for (m,) in rows}

    return messages
