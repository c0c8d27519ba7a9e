"""The production web server: `python -m config.serve` — uvicorn running config.asgi in
WEB_WORKERS processes (default: one per CPU core) on one port, each serving HTTP (Django's WSGI
handler in a pool of FLOWTOWER_HTTP_THREADS threads, config.wsgi_bridge) and websockets
(Channels; the Redis channel layer reaches every process's sockets).

Why uvicorn and not one Daphne process (what ran before): one process serves on one core, and a
single-log POST costs several milliseconds of Python; uvicorn supervises its worker processes on a
shared socket (restarting one that dies) with an HTTP parser in C (httptools) and uvloop. Measured
side by side in docs/serving.md.

Options: --host (WEB_HOST, default 0.0.0.0), --port (WEB_PORT, default 8000), --workers
(WEB_WORKERS). Behind a reverse proxy, FORWARDED_ALLOW_IPS names the proxies whose
X-Forwarded-For/-Proto are trusted (default 127.0.0.1, as uvicorn's)."""

import argparse
import os

import uvicorn


def options(argv=None):
    parser = argparse.ArgumentParser(prog="python -m config.serve", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default=os.environ.get("WEB_HOST", "0.0.0.0"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("WEB_PORT", "8000")))
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_WORKERS", "0")) or os.cpu_count() or 1)
    return parser.parse_args(argv)


def main(argv=None):
    args = options(argv)
    uvicorn.run(
        "config.asgi:application",
        host=args.host,
        port=args.port,
        workers=args.workers,
        # Django has no startup or shutdown hooks for lifespan events.
        lifespan="off",
        # Flowtower logs each request itself, as JSON (monitoring.middleware); no plain-text line.
        access_log=False,
        log_level=os.environ.get("WEB_LOG_LEVEL", "warning"),
        forwarded_allow_ips=os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1"),
        # Websocket pings as Daphne sent them (every 20 s), so idle proxies keep the connection.
        ws_ping_interval=20,
        ws_ping_timeout=30,
        timeout_graceful_shutdown=10,
    )


if __name__ == "__main__":
    main()
