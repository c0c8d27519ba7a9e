"""A real n8n for the live mirror tests (`make test-n8n`): installed from npm by
scripts/ensure_n8n.sh into a cache outside the repository, started on a free port with a throwaway
user folder, its owner and an API key set up through n8n's own REST endpoints, workflows created
and activated through its public API and triggered over their production webhooks.

Also the services those workflows call (`TargetServer`): a local HTTP server that answers, fails
with 500 or 401, or is slow, as the remote services of real workflows do."""

import copy
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
HOOK_FILE = ROOT / "n8n_mirror" / "hooks" / "flowtower-hooks.js"
FIXTURE_WORKFLOWS = Path(__file__).resolve().parent / "fixtures" / "n8n" / "api-1.123.81" / "workflows.json"
# (version, database, table prefix, where n8n 2.x keeps execution data): n8n 1.x as most people
# run it (SQLite), n8n 2.x on PostgreSQL with DB_TABLE_PREFIX, and n8n 2.x keeping execution data
# on the filesystem (N8N_EXECUTION_DATA_STORAGE_MODE: no execution_data rows). 2.40.7 is the newest
# 2.x seen to install here.
VERSIONS = [("1.123.81", "sqlite", "", "database"), ("2.40.7", "postgres", "n8n_", "database"),
            ("2.40.7", "sqlite", "", "filesystem")]
OWNER = {"email": "owner@example.com", "firstName": "Flow", "lastName": "Tower", "password": "Flowtower-test-Passw0rd"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def install(version: str) -> Path:
    """The n8n install folder for this version (installed once, then taken from the cache)."""
    done = subprocess.run([str(ROOT / "scripts" / "ensure_n8n.sh"), version], capture_output=True, text=True,
                          timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"n8n {version} could not be installed:\n{done.stderr[-4000:]}")
    return Path(done.stdout.strip().splitlines()[-1])


class TargetServer:
    """The remote services the workflows call: /ok answers JSON, /error a 500, /unauthorized a
    401, /slow after 1.5 s, /hang only after 10 s (longer than the calling node's timeout)."""

    def __init__(self):
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's naming
                path = self.path.split("?")[0]
                if path == "/slow":
                    time.sleep(1.5)
                elif path == "/hang":
                    time.sleep(10)
                status = {"/error": 500, "/unauthorized": 401}.get(path, 200)
                body = json.dumps({"items": [{"amount": 5}, {"amount": 7}]} if status == 200
                                  else {"error": "nope"}).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:  # the caller gave up (its timeout)
                    pass

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def workflow_definitions(target_url: str, closed_port: int) -> list[dict]:
    """The workflows n8n 1.123.81 ran for the shared fixtures (tests/fixtures/n8n), pointed at this
    test's services, plus what those fixtures lack: an HTTP call that times out, custom execution
    data (an Execution Data node) and a workflow on a Schedule Trigger (every 15 minutes, never
    triggered here)."""
    fixture = json.loads(FIXTURE_WORKFLOWS.read_text())["data"]
    workflows = []
    for source in fixture:
        nodes = []
        for node in copy.deepcopy(source["nodes"]):
            url = node["parameters"].get("url")
            if url:
                path = url.split("/", 3)[3]
                node["parameters"]["url"] = (f"http://127.0.0.1:{closed_port}/down" if path == "down"
                                             else f"{target_url}/{path}")
            if "webhookId" in node:
                node["webhookId"] = str(uuid.uuid4())
            node.pop("id", None)
            node["id"] = str(uuid.uuid4())
            nodes.append(node)
        workflows.append({"name": source["name"], "nodes": nodes, "connections": source["connections"],
                          "active": source["active"]})
    workflows.append(_workflow("Partner API", [
        _webhook("partner-api"),
        {"name": "Call partner", "type": "n8n-nodes-base.httpRequest", "typeVersion": 4.2,
         "parameters": {"url": f"{target_url}/hang", "options": {"timeout": 1000}}},
    ]))
    workflows.append(_workflow("Refund request", [
        _webhook("refund"),
        {"name": "Save order id", "type": "n8n-nodes-base.executionData", "typeVersion": 1,
         "parameters": {"dataToSave": {"values": [{"key": "order_id", "value": "A-17"}]}}},
    ]))
    workflows.append(_workflow("Quarter-hourly digest", [
        {"name": "Every 15 minutes", "type": "n8n-nodes-base.scheduleTrigger", "typeVersion": 1.2,
         "parameters": {"rule": {"interval": [{"field": "minutes", "minutesInterval": 15}]}}},
        {"name": "Digest", "type": "n8n-nodes-base.noOp", "typeVersion": 1, "parameters": {}},
    ]))
    return workflows


def _webhook(path):
    return {"name": "Webhook", "type": "n8n-nodes-base.webhook", "typeVersion": 2, "webhookId": str(uuid.uuid4()),
            "parameters": {"httpMethod": "POST", "path": path, "responseMode": "onReceived", "options": {}}}


def _workflow(name, nodes):
    """A straight line of nodes."""
    for index, node in enumerate(nodes):
        node.setdefault("id", str(uuid.uuid4()))
        node.setdefault("position", [index * 220, 0])
    connections = {a["name"]: {"main": [[{"node": b["name"], "type": "main", "index": 0}]]}
                   for a, b in zip(nodes, nodes[1:])}
    return {"name": name, "nodes": nodes, "connections": connections, "active": True}


class N8nServer:
    """One real n8n process. `database="sqlite"` keeps n8n's database in its user folder;
    `database="postgres"` puts it in a fresh PostgreSQL database on the local server, with
    `table_prefix` as n8n's DB_TABLE_PREFIX."""

    def __init__(self, version, *, database="sqlite", table_prefix="", data_storage="database", env=None,
                 pg_database=None):
        self.version = version
        self.home = install(version)
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix=f"n8n-{version}-"))
        self.database = database
        self.table_prefix = table_prefix
        self.pg_database = pg_database or f"flowtower_n8n_{version.replace('.', '_')}"
        self.log_path = self.folder / "n8n.log"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("DB_", "N8N_"))},
            "N8N_USER_FOLDER": str(self.folder), "N8N_PORT": str(self.port), "N8N_LISTEN_ADDRESS": "127.0.0.1",
            "N8N_HOST": "127.0.0.1", "WEBHOOK_URL": f"http://127.0.0.1:{self.port}/",
            "N8N_SECURE_COOKIE": "false", "N8N_DIAGNOSTICS_ENABLED": "false",
            "N8N_PERSONALIZATION_ENABLED": "false", "N8N_VERSION_NOTIFICATIONS_ENABLED": "false",
            "N8N_TEMPLATES_ENABLED": "false", "N8N_LOG_LEVEL": "info", "GENERIC_TIMEZONE": "UTC",
            # n8n 2.x runs Code nodes in task runners through a broker on a port of its own.
            "N8N_RUNNERS_BROKER_PORT": str(free_port()),
            **(env or {}),
        }
        if table_prefix:
            self.env["DB_TABLE_PREFIX"] = table_prefix
        if data_storage != "database":
            self.env["N8N_EXECUTION_DATA_STORAGE_MODE"] = data_storage
        if database == "postgres":
            self.env.update(DB_TYPE="postgresdb", DB_POSTGRESDB_HOST="127.0.0.1", DB_POSTGRESDB_PORT="5432",
                            DB_POSTGRESDB_DATABASE=self.pg_database, DB_POSTGRESDB_USER="postgres")
        self.process = None
        self.api_key = None
        self.session = requests.Session()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def database_location(self):
        """What Flowtower's database reader is given."""
        if self.database == "postgres":
            return f"postgres://postgres@127.0.0.1:5432/{self.pg_database}"
        return str(self.folder / ".n8n" / "database.sqlite")

    def _fresh_pg_database(self):
        import psycopg

        with psycopg.connect("postgres://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.pg_database}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{self.pg_database}"')

    def start(self, timeout=180):
        if self.database == "postgres":
            self._fresh_pg_database()
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen([str(self.home / "bin" / "n8n"), "start"], cwd=self.folder, env=self.env,
                                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        # /healthz answers before the public API is ready: wait for the API to ask for a key.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"n8n exited with {self.process.returncode}:\n{self.log()[-4000:]}")
            try:
                if requests.get(f"{self.url}/api/v1/workflows", timeout=2).status_code == 401:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.5)
        else:
            raise RuntimeError(f"n8n did not serve its API within {timeout} s:\n{self.log()[-4000:]}")
        self._set_up_owner_and_key()
        return self

    def _set_up_owner_and_key(self, timeout=60):
        # n8n registers its /rest routes a moment after the public API answers.
        deadline = time.monotonic() + timeout
        while True:
            answer = self.session.post(f"{self.url}/rest/owner/setup", json=OWNER, timeout=30)
            if answer.status_code != 404 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        answer.raise_for_status()
        scopes = self.session.get(f"{self.url}/rest/api-keys/scopes", timeout=30)
        scopes.raise_for_status()
        answer = self.session.post(f"{self.url}/rest/api-keys", timeout=30,
                                   json={"label": "flowtower", "scopes": scopes.json()["data"], "expiresAt": None})
        answer.raise_for_status()
        self.api_key = answer.json()["data"]["rawApiKey"]

    def api(self, method, path, **kwargs):
        answer = requests.request(method, f"{self.url}/api/v1{path}", headers={"X-N8N-API-KEY": self.api_key},
                                  timeout=30, **kwargs)
        if answer.status_code >= 400:
            raise RuntimeError(f"n8n {method} {path}: {answer.status_code} {answer.text[:2000]}")
        return answer.json()

    def create_workflow(self, definition) -> str:
        body = {key: definition[key] for key in ("name", "nodes", "connections")}
        body["settings"] = {"executionOrder": "v1"}
        workflow_id = self.api("POST", "/workflows", json=body)["id"]
        if definition.get("active"):
            self.api("POST", f"/workflows/{workflow_id}/activate")
        return workflow_id

    def trigger(self, path, body=None):
        answer = requests.post(f"{self.url}/webhook/{path}", json=body or {}, timeout=30)
        if answer.status_code >= 400:
            raise RuntimeError(f"n8n webhook {path}: {answer.status_code} {answer.text[:500]}")

    def executions(self, **params):
        """Every execution n8n's API lists (all statuses), newest first, without node data."""
        found = {}
        for status in (None, "running", "waiting"):
            cursor = None
            while True:
                query = {"limit": 250, **params, **({"status": status} if status else {}),
                         **({"cursor": cursor} if cursor else {})}
                page = self.api("GET", "/executions", params=query)
                for execution in page["data"]:
                    found[str(execution["id"])] = execution
                cursor = page.get("nextCursor")
                if not cursor:
                    break
        # n8n's lists leave out runs it holds in memory (a run paused in a Wait node): by id.
        for missing in range(1, max((int(i) for i in found), default=0) + 8):
            if str(missing) not in found:
                answer = requests.get(f"{self.url}/api/v1/executions/{missing}", timeout=30,
                                      headers={"X-N8N-API-KEY": self.api_key}, params=params)
                if answer.status_code == 200:
                    found[str(missing)] = answer.json()
        return sorted(found.values(), key=lambda e: int(e["id"]), reverse=True)

    def wait_until_settled(self, count, timeout=60):
        """Wait until n8n lists `count` executions, none of them still new or running."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            executions = self.executions()
            if len(executions) >= count and not any(e["status"] in ("new", "running") for e in executions):
                return executions
            time.sleep(0.5)
        raise AssertionError(f"n8n did not settle at {count} executions: "
                             f"{[(e['id'], e['status']) for e in self.executions()]}\n{self.log()[-3000:]}")

    def log(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None
        shutil.rmtree(self.folder, ignore_errors=True)
        if self.database == "postgres":
            import psycopg

            with psycopg.connect("postgres://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.pg_database}" WITH (FORCE)')


if __name__ == "__main__":  # `make test-n8n` and `make test` install every version first
    for version in sorted({v[0] for v in VERSIONS}):
        print(f"n8n {version}: {install(version)}")
