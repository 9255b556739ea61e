// Timeline: the visual view (deploys as markers on a time axis; a click opens the deploy), the custom range's
// date inputs shown only when chosen, and the live refresh: while any deploy on the page is in its observation
// window, re-fetch the page every 20 seconds and swap in the fresh #timeline. Without JS the page still works.
(function () {
  "use strict";
  var REFRESH_MS = 20000;

  function draw() {
    var data = document.getElementById("timeline-chart-data");
    var target = document.getElementById("timeline-chart");
    if (!data || !target) return;
    var figure = JSON.parse(data.textContent);
    Plotly.newPlot(target, figure.data, figure.layout, { displayModeBar: false, responsive: true }).then(function () {
      target.on("plotly_click", function (event) {
        var point = event.points && event.points[0];
        if (point && point.customdata) window.location.href = point.customdata[0];
      });
    });
  }

  function showCustomRange() {
    var picker = document.getElementById("range-picker");
    if (!picker) return;
    var toggle = function () {
      document.querySelectorAll(".custom-range").forEach(function (label) {
        label.hidden = picker.value !== "custom";
      });
    };
    picker.addEventListener("change", toggle);
    toggle();
  }

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
        if (fresh) {
          current.replaceWith(fresh);
          window.whenPlotly(draw);
        }
      })
      .catch(function () { /* offline for a moment: try again next tick */ })
      .finally(schedule);
  }

  function schedule() { window.setTimeout(refresh, REFRESH_MS); }

  showCustomRange();
  window.whenPlotly(draw);
  schedule();
})();
