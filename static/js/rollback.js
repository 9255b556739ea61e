// Deploy page, rollback card: while a rollback request is open, re-fetch the page every 5 seconds and swap in
// the fresh #rollback card (its state, each delivery try's error, the next retry). Without JS the page still works.
(function () {
  "use strict";
  var REFRESH_MS = 5000;

  function refresh() {
    var current = document.getElementById("rollback");
    if (!current || current.dataset.live !== "1" || document.hidden) {
      return schedule();
    }
    fetch(window.location.pathname, { headers: { "X-Requested-With": "fetch" }, credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (!html) return;
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("rollback");
        if (fresh) current.replaceWith(fresh);
      })
      .catch(function () { /* offline for a moment: try again next tick */ })
      .finally(schedule);
  }

  function schedule() { window.setTimeout(refresh, REFRESH_MS); }

  schedule();
})();
