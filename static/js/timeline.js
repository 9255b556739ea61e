// Live timeline: while any deploy on the page is in its observation window, re-fetch the page every
// 20 seconds and swap in the fresh #timeline (verdicts, drift badges, alert counts). Without JS the page still works.
(function () {
  "use strict";
  var REFRESH_MS = 20000;

  function refresh() {
    var current = document.getElementById("timeline");
    if (!current || current.dataset.live !== "1" || document.hidden) {
      return schedule();
    }
    fetch(window.location.href, { headers: { "X-Requested-With": "fetch" }, credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (!html) return;
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("timeline");
        if (fresh) current.replaceWith(fresh);
      })
      .catch(function () { /* offline for a moment: try again next tick */ })
      .finally(schedule);
  }

  function schedule() { window.setTimeout(refresh, REFRESH_MS); }

  schedule();
})();
