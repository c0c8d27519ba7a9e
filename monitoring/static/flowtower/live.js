// Live updates for Flowtower's pages. Without JavaScript the pages still work; this only keeps
// them current. One socket per page: /ws/monitoring/ or /ws/workflows/<id>/ (body[data-live-socket]).
// Messages: {"type": "execution"|"log"|"error"|"error_group"|"alert", "action", "data"}, {"type": "omitted", "count"}
// or {"type": "heartbeat", "interval": seconds}.
// The connection state shows in the header (#live-state) and in body[data-live]: "on" (live),
// "reconnecting" (lost; retrying with back-off), "off" (refused: not signed in / not allowed).
(function () {
  "use strict";
  var MAX_ROWS = 500;
  var MIN_RETRY = 1000, MAX_RETRY = 15000;
  var state = document.getElementById("live-state");
  var path = document.body.dataset.liveSocket;
  var paused = false, pending = 0, omitted = 0, retry = MIN_RETRY, everConnected = false;
  var timers = {};

  function debounce(key, ms, fn) {
    clearTimeout(timers[key]);
    timers[key] = setTimeout(fn, ms);
  }

  // Replace an element with the same element from a freshly fetched page: the server renders,
  // so live and static views can never disagree. Skipped while the user is typing in it.
  function refresh(id, url) {
    var el = document.getElementById(id);
    if (!el) return;
    var busy = el.contains(document.activeElement) ||
      Array.prototype.some.call(el.querySelectorAll("input[type=text], input:not([type]), textarea"),
        function (i) { return i.value; });
    if (busy) { el.dataset.stale = "1"; return; }
    return fetch(url || location.href, {credentials: "same-origin", headers: {"X-Requested-With": "live"}})
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) return;
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById(id);
        if (fresh) el.replaceWith(fresh);
      });
  }

  function cell(row, text, cls) {
    var td = document.createElement("td");
    if (cls) {
      var span = document.createElement("span");
      span.className = cls; span.textContent = text; td.appendChild(span);
    } else { td.textContent = text; }
    row.appendChild(td);
  }

  function ms(v) {
    if (v === null || v === undefined) return "–";
    if (v < 1000) return v + " ms";
    if (v < 60000) return (v / 1000).toFixed(1) + " s";
    return Math.floor(v / 60000) + " min " + Math.floor((v % 60000) / 1000) + " s";
  }

  function matches(table, log) {
    var d = table.dataset;
    if (d.filterEnd) return false; // a closed time range never grows
    if (d.filterLevels && d.filterLevels.split(",").indexOf(log.log_level) < 0) return false;
    if (d.filterExecution && d.filterExecution !== log.execution_id) return false;
    if (d.filterText && log.message.toLowerCase().indexOf(d.filterText.toLowerCase()) < 0) return false;
    return true;
  }

  function addLog(log) {
    var table = document.getElementById("live-log");
    if (!table || !matches(table, log)) return;
    if (paused) { pending += 1; showPending(); return; }
    var body = table.tBodies[0];
    var empty = body.querySelector("tr.empty");
    if (empty) empty.remove();
    var row = document.createElement("tr");
    row.className = "level-" + log.log_level + " fresh";
    cell(row, (log.timestamp || "").replace("T", " ").slice(0, 19));
    if (table.dataset.withWorkflow === "1") { cell(row, log.workflow_id); cell(row, log.execution_id); }
    cell(row, log.log_level, "level " + log.log_level);
    cell(row, log.node_name || "");
    cell(row, ms(log.duration));
    cell(row, log.message);
    body.insertBefore(row, body.firstChild);
    while (body.rows.length > MAX_ROWS) body.deleteRow(body.rows.length - 1);
  }

  function showPending() {
    var el = document.getElementById("tail-pending");
    if (el) el.textContent = pending ? pending + " new while paused" : "";
  }

  function showOmitted(count) {
    omitted += count;
    var el = document.getElementById("omitted");
    if (el) el.textContent = "+" + omitted + " more not shown (burst)";
  }

  function updateWorkflowRow(execution) {
    var row = document.querySelector('[data-workflow-key="' + execution.team + "/" + execution.workflow_id + '"]');
    if (!row) return;
    var state = row.querySelector('[data-field="state"] .state');
    if (state) { state.className = "state " + execution.state; state.textContent = execution.state; }
    var last = row.querySelector('[data-field="last-run"]');
    if (last) last.textContent = (execution.started_at || "").replace("T", " ").slice(0, 19);
  }

  function refreshBadge() {
    var badge = document.getElementById("nav-unacknowledged");
    if (!badge) return;
    fetch(badge.dataset.url, {credentials: "same-origin"}).then(function (r) { return r.json(); })
      .then(function (d) {
        badge.textContent = d.unacknowledged_alerts;
        badge.classList.toggle("zero", !d.unacknowledged_alerts);
      });
  }

  // Other page scripts (alerts.js) hear every message as a "flowtower:live" event and may use refresh().
  window.flowtowerRefresh = refresh;
  function tell(msg) { document.dispatchEvent(new CustomEvent("flowtower:live", {detail: msg})); }

  function handle(msg) {
    tell(msg);
    switch (msg.type) {
      case "log":
        addLog(msg.data);
        break;
      case "execution":
        updateWorkflowRow(msg.data);
        debounce("live", 300, function () {
          var wrap = document.getElementById("live-status-wrap");
          if (wrap) refresh("live-status", wrap.dataset.refresh);
        });
        debounce("overview", 3000, function () {
          var o = document.getElementById("overview");
          if (o) refresh("overview-cards", o.dataset.refresh);
        });
        break;
      case "error":
      case "error_group":  // a group resolved, ignored or reopened elsewhere, or regressed
        debounce("errors", 300, function () { refresh("errors"); });
        break;
      case "alert":
        debounce("alerts", 200, function () { refresh("alerts"); });
        debounce("badge", 200, refreshBadge);
        break;
      case "omitted":
        showOmitted(msg.count);
        break;
    }
  }

  var toggle = document.getElementById("tail-toggle");
  if (toggle) {
    toggle.addEventListener("click", function () {
      paused = !paused;
      toggle.textContent = paused ? "Resume live tail" : "Pause live tail";
      toggle.dataset.state = paused ? "paused" : "live";
      if (!paused && pending) { pending = 0; showPending(); location.reload(); }
    });
  }

  var LABELS = {on: "live", reconnecting: "reconnecting…", off: "not live", connecting: "connecting…"};

  function showState(name, why) {
    document.body.dataset.live = name;
    if (!state) return;
    state.dataset.state = name;
    state.querySelector(".label").textContent = LABELS[name];
    state.title = why || "live updates: " + LABELS[name];
  }

  // After a reconnect, fetch what may have changed while the socket was down: the server renders,
  // so the page catches up without replaying events.
  function catchUp() {
    if (!paused) refresh("live-log");
    var wrap = document.getElementById("live-status-wrap");
    if (wrap) refresh("live-status", wrap.dataset.refresh);
    var o = document.getElementById("overview");
    if (o) refresh("overview-cards", o.dataset.refresh);
    refresh("errors");
    refresh("alerts");
    refreshBadge();
    tell({type: "reconnected"});
  }

  function connect() {
    if (!path || !window.WebSocket) return;
    var ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + path);
    var received = 0, watchdog = null, gone = false, interval = 30;
    // The server speaks at least every `interval` seconds (a heartbeat when quiet). Hearing nothing
    // for two intervals and a bit means the connection is dead even if the browser has not noticed
    // (a proxy or a network path that dropped it silently, a hung server): drop it and reconnect.
    function watch() {
      clearTimeout(watchdog);
      watchdog = setTimeout(function () { lost(); ws.close(); }, (interval * 2 + 5) * 1000);
    }
    // Acknowledge processed messages: the server sends no more while too many are unacknowledged.
    var acker = setInterval(function () {
      if (received && ws.readyState === 1) { ws.send(JSON.stringify({type: "ack", count: received})); received = 0; }
    }, 250);
    function lost(code) {
      if (gone) return;
      gone = true;
      clearInterval(acker);
      clearTimeout(watchdog);
      if (code === 4401 || code === 4404) { // not signed in / not allowed: retrying won't help
        showState("off", code === 4401 ? "not signed in: reload the page" : "not allowed to follow this page live");
        return;
      }
      showState("reconnecting");
      setTimeout(connect, retry * (0.5 + Math.random() / 2)); // jitter: pages don't return all at once
      retry = Math.min(retry * 2, MAX_RETRY);
    }
    ws.onopen = function () { watch(); };
    ws.onmessage = function (e) {
      if (gone) return;
      received += 1;
      var msg = JSON.parse(e.data);
      if (msg.type === "heartbeat") {
        interval = msg.interval || interval;
        watch();
        if (document.body.dataset.live !== "on") { // the first message: subscribed
          showState("on");
          retry = MIN_RETRY;
          if (everConnected) catchUp();
          everConnected = true;
        }
        return;
      }
      watch();
      handle(msg);
    };
    ws.onclose = function (e) { lost(e.code); };
  }
  showState("connecting");
  connect();
})();
