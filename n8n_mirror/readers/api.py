"""Reads n8n through its public REST API (header X-N8N-API-KEY), following cursor pagination.

The HTTP call is a parameter (`get`, shaped like requests.Session.get): the caller decides which
outbound rules apply (Flowtower passes its SSRF-safe session); this module only knows n8n."""

import requests

from .base import (
    CredentialsRejected,
    N8nExecution,
    N8nReadError,
    N8nWorkflow,
    SourceMissing,
    SourceTimeout,
    SourceUnreachable,
    UnexpectedAnswer,
    execution_sort_key,
    infer_status,
    parse_time,
    result_data_fields,
)

PAGE_SIZE = 250  # n8n's maximum `limit`
TIMEOUT_S = 15
# n8n's default execution list leaves out running executions (and, in some versions, waiting
# ones): those are asked for separately and merged by id.
EXTRA_STATUS_LISTS = ("running", "waiting")
MAX_GAP_READS = 1000  # executions missing from the lists read one by one per call (_fill_gaps)
MAX_PAGES = 10_000  # a guard against an n8n that hands back the same cursor for ever


class ApiReader:
    """`base_url`: n8n's address (e.g. https://n8n.example.com); `api_key`: an n8n API key;
    `get`: the HTTP getter to use, default a plain requests session. It should raise requests'
    exceptions (or an N8nReadError, which passes through unchanged)."""

    def __init__(self, base_url, api_key, get=None, timeout=TIMEOUT_S):
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self._get = get or requests.Session().get
        self.timeout = timeout

    def _request(self, path, params=None):
        url = f"{self.base_url}/api/v1/{path}"
        try:
            response = self._get(url, params=params, headers={"X-N8N-API-KEY": self.api_key, "Accept": "application/json"},
                                 timeout=self.timeout)
        except requests.Timeout:
            raise SourceTimeout(f"n8n at {self.base_url} did not answer within {self.timeout} s") from None
        except requests.ConnectionError as exc:
            raise SourceUnreachable(f"n8n at {self.base_url} is unreachable: {_reason(exc)}") from None
        except requests.RequestException as exc:
            raise SourceUnreachable(f"n8n at {self.base_url} could not be asked: {_reason(exc)}") from None
        if response.status_code in (401, 403):
            raise CredentialsRejected(f"n8n at {self.base_url} rejected the API key (HTTP {response.status_code})")
        if response.status_code == 404:
            raise SourceMissing(f"n8n at {self.base_url} has no {path} (HTTP 404)")
        if not 200 <= response.status_code < 300:
            raise UnexpectedAnswer(f"n8n at {self.base_url} answered HTTP {response.status_code} for {path}")
        try:
            body = response.json()
        except ValueError:
            raise UnexpectedAnswer(f"n8n at {self.base_url} answered {path} with something that is not JSON") from None
        if not isinstance(body, dict):
            raise UnexpectedAnswer(f"n8n at {self.base_url} answered {path} with JSON that is not an object")
        return body

    def _pages(self, path, params):
        """Yields the items of every page, following nextCursor."""
        params = dict(params)
        for _ in range(MAX_PAGES):
            body = self._request(path, params)
            if not isinstance(body.get("data"), list):
                raise UnexpectedAnswer(f"n8n answered {path} without a data list")
            yield from body["data"]
            cursor = body.get("nextCursor")
            if not cursor:
                return
            params["cursor"] = cursor
        raise UnexpectedAnswer(f"n8n kept paginating {path} past {MAX_PAGES} pages")

    def list_workflows(self):
        return [_workflow(item) for item in self._pages("workflows", {"limit": PAGE_SIZE})]

    def list_executions(self, after_id=None, ids=None, statuses=None, limit=PAGE_SIZE):
        """Executions ordered by id: those after `after_id`, or exactly `ids`, optionally only
        the given statuses, at most `limit` (the oldest ones). n8n lists newest first and cannot
        start after an id, so this reads pages until it passes `after_id`."""
        if ids is not None:
            found = [e for e in (self.get_execution(i) for i in ids) if e is not None]
            found = [e for e in found if not statuses or e.status in statuses]
            return sorted(found, key=execution_sort_key)[:limit]
        lists = [{"status": s} for s in statuses] if statuses else [{}, *({"status": s} for s in EXTRA_STATUS_LISTS)]
        merged = {}
        for extra in lists:
            for item in self._pages("executions", {"includeData": "true", "limit": PAGE_SIZE, **extra}):
                if after_id is not None and int(item["id"]) <= int(after_id):
                    break  # newest first: everything after this one is older still
                merged[str(item["id"])] = item
        executions = [_execution(item) for item in merged.values()]
        executions += self._fill_gaps(after_id, {int(i) for i in merged}, statuses)
        return sorted(executions, key=execution_sort_key)[:limit]

    def _fill_gaps(self, after_id, listed, statuses):
        """The executions n8n's lists leave out, read one by one. n8n's list hides executions it
        still holds in memory (seen with n8n 1.123: a run paused in a Wait node stays out of
        every list, `status=waiting` included, until n8n restarts), yet its ids are sequential:
        an id missing between the cursor (or, on a first read, the oldest listed) and the newest
        listed is either such a run or one deleted since (404, skipped). Without this, the cursor
        would pass it and it would never be mirrored."""
        if not listed:
            return []
        lower = int(after_id) if after_id is not None else min(listed)
        missing = [i for i in range(max(listed) - 1, lower, -1) if i not in listed][:MAX_GAP_READS]
        found = [e for e in (self.get_execution(i) for i in missing) if e is not None]
        return [e for e in found if not statuses or e.status in statuses]

    def get_execution(self, execution_id):
        """One execution with its data, or None when n8n no longer has it (pruned)."""
        try:
            item = self._request(f"executions/{int(execution_id)}", {"includeData": "true"})
        except SourceMissing:
            return None
        return _execution(item)


def _reason(exc):
    # requests wraps urllib3's error several levels deep; the innermost says what happened.
    while exc.args and isinstance(exc.args[0], BaseException):
        exc = exc.args[0]
    reason = getattr(exc, "reason", None)
    return str(reason or exc)


def _workflow(item):
    try:
        return N8nWorkflow(
            id=str(item["id"]), name=item.get("name") or "", active=bool(item.get("active")),
            nodes=item.get("nodes") or [], connections=item.get("connections") or {},
            tags=[t["name"] if isinstance(t, dict) else str(t) for t in item.get("tags") or []],
            created_at=parse_time(item.get("createdAt")), updated_at=parse_time(item.get("updatedAt")),
            settings=item.get("settings") or {},
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise UnexpectedAnswer(f"n8n answered a workflow that cannot be read: {exc!r}") from None


def _execution(item):
    try:
        stopped_at, wait_till = parse_time(item.get("stoppedAt")), parse_time(item.get("waitTill"))
        execution = N8nExecution(
            id=str(item["id"]), workflow_id=str(item["workflowId"]),
            status=infer_status(item.get("status"), bool(item.get("finished")), stopped_at, wait_till),
            mode=item.get("mode") or "", started_at=parse_time(item.get("startedAt")), stopped_at=stopped_at,
            finished=bool(item.get("finished")), retry_of=str(item["retryOf"]) if item.get("retryOf") else None,
            wait_till=wait_till, stored_at=item.get("storedAt"),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise UnexpectedAnswer(f"n8n answered an execution that cannot be read: {exc!r}") from None
    custom_data = item.get("customData")
    if isinstance(custom_data, dict):
        # n8n answers {} when nothing was saved; older versions leave the field out.
        execution.custom_data = {str(key): value for key, value in custom_data.items()}
    data = item.get("data")
    if isinstance(data, dict):
        for name, value in result_data_fields(data).items():
            setattr(execution, name, value)
        execution.data_available = True
    return execution


__all__ = ["ApiReader", "N8nReadError"]
