"""Open live-update websockets. A gauge each Daphne process moves as sockets open and close; in
multiprocess mode "livesum" adds up the processes that are alive (a dead process's sockets are gone)."""

from prometheus_client import Gauge

WEBSOCKET_CONNECTIONS = Gauge(
    "flowtower_websocket_connections", "Open live-update websocket connections.", multiprocess_mode="livesum",
)


def opened():
    WEBSOCKET_CONNECTIONS.inc()


def closed():
    WEBSOCKET_CONNECTIONS.dec()
