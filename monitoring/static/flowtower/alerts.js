// The alert page (#alert-page) follows its alert live. live.js passes every socket message on as
// a "flowtower:live" event; one about this alert, or a reconnect, re-fetches the page's parts
// (the server renders them, as everywhere else). Deliveries finish in Celery without an alert
// event, so the page looks again a few seconds after each event, and every few seconds while a
// delivery is still pending or retrying (for a few minutes at most).
(function () {
  "use strict";
  var POLL_MS = 4000, MAX_POLLS = 75;
  var timers = {}, polls = 0;

  function page() { return document.getElementById("alert-page"); }

  function later(key, ms) {
    clearTimeout(timers[key]);
    timers[key] = setTimeout(function () {
      var done = window.flowtowerRefresh && window.flowtowerRefresh("alert-page");
      if (done) done.then(pollWhilePending);
    }, ms);
  }

  function pollWhilePending() {
    var el = page();
    if (el && el.dataset.deliveriesPending && polls < MAX_POLLS) {
      polls += 1;
      later("poll", POLL_MS);
    }
  }

  document.addEventListener("flowtower:live", function (e) {
    var el = page(), msg = e.detail;
    if (!el) return;
    if (msg.type === "reconnected" || (msg.type === "alert" && msg.data && msg.data.id === el.dataset.alertId)) {
      polls = 0;
      later("now", 200);
      later("after", 3000);
    }
  });
  pollWhilePending();
})();
