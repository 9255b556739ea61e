// Service page: the chosen metric over time with every deploy marked, and the drift share per deploy.
(function () {
  "use strict";
  var config = { displayModeBar: false, responsive: true };
  window.whenPlotly(function () {
    [["service-metric-data", "service-metric-chart"], ["service-drift-data", "service-drift-chart"]].forEach(function (pair) {
      var data = document.getElementById(pair[0]);
      if (!data) return;
      var figure = JSON.parse(data.textContent);
      Plotly.newPlot(pair[1], figure.data, figure.layout, config);
    });
  });
  var picker = document.getElementById("range-picker");
  if (picker) {
    var toggle = function () {
      document.querySelectorAll(".custom-range").forEach(function (label) { label.hidden = picker.value !== "custom"; });
    };
    picker.addEventListener("change", toggle);
    toggle();
  }
})();
