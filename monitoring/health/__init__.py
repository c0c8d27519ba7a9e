"""What /healthz checks, in one registry.

monitoring registers the checks of what every process needs (database, Redis, channel layer,
Celery beat and workers, see checks.py); other apps add theirs from their AppConfig.ready with
`register_check` (n8n_mirror registers its instances' sync state), so monitoring never imports them.

A check is a function taking nothing and returning a dict {"ok": bool, "detail": str, ...counts}.
A critical check failing makes the whole answer "down" (HTTP 503: this process cannot serve); any
other failing makes it "degraded" (HTTP 200: it serves, something behind it needs a look). What a
check returns is answered to anyone (no authentication), so it holds counts, never team data.
"""

import logging
from dataclasses import dataclass
from typing import Callable

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Check:
    name: str
    func: Callable[[], dict]
    critical: bool
    needs: tuple = ()


_checks: dict[str, Check] = {}


def register_check(name, func, critical=False, needs=()):
    """Add (or replace, so a reloaded app registers once) the check `name`. `needs`: checks that
    must pass first (e.g. "database"); when one failed this one is not run, and fails saying so —
    a probe waits for one database timeout, not one per check."""
    _checks[name] = Check(name, func, critical, tuple(needs))


def registered_checks() -> list[Check]:
    return list(_checks.values())


def _run(check: Check) -> dict:
    # A check that raises is a failed check: /healthz itself must answer, whatever breaks. The
    # exception's text can name hosts and ports, so it goes to the log and the answer names only
    # its type.
    try:
        result = dict(check.func())
    except Exception as exc:  # noqa: BLE001 - any failure is the check's answer
        logger.warning("health check %s failed: %r", check.name, exc)
        return {"ok": False, "detail": f"check failed ({type(exc).__name__})"}
    result["ok"] = bool(result.get("ok"))
    result.setdefault("detail", "")
    return result


def run_checks() -> tuple[str, dict]:
    """("ok" | "degraded" | "down", {name: result}) for every registered check."""
    results, status = {}, "ok"
    for check in registered_checks():
        failed = [name for name in check.needs if not results.get(name, {}).get("ok", True)]
        if failed:
            result = {"ok": False, "detail": f"not checked: {', '.join(failed)} failing"}
        else:
            result = _run(check)
        results[check.name] = result
        result["critical"] = check.critical
        if not result["ok"]:
            status = "down" if check.critical or status == "down" else "degraded"
    return status, results


from . import checks  # noqa: E402,F401  registers the core checks, first in the answer
