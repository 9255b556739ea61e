// Deploy page, rollback and promotion cards: while a request is open, fetch the cards alone (data-live-url, not the
// whole page with its charts) every 5 seconds and swap in the fresh card (its state, each delivery try's error, the
// next retry). Without JS the page still works.
(function () {
  "use strict";
  var REFRESH_MS = 5000;

  var CARDS = ["rollback", "promotion"];

  function liveCards() {
    return CARDS.map(function (id) { return document.getElementById(id); })
      .filter(function (card) { return card && card.dataset.live === "1"; });
  }

  function refresh() {
    var live = liveCards();
    if (!live.length || document.hidden) {
      return schedule();
    }
    fetch(live[0].dataset.liveUrl, { headers: { "X-Requested-With": "fetch" }, credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (!html) return;
        var doc = new DOMParser().parseFromString(html, "text/html");
        live.forEach(function (current) {
          var fresh = doc.getElementById(current.id);
          if (fresh) current.replaceWith(fresh);
        });
      })
      .catch(function () { /* offline for a moment: try again next tick */ })
      .finally(schedule);
  }

  function schedule() { window.setTimeout(refresh, REFRESH_MS); }

  schedule();
})();
