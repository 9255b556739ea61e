// DORA page: each figure as a weekly trend (figures built server side).
(function () {
  "use strict";
  const data = document.getElementById("dora-charts");
  if (!data) return;
  const config = { displayModeBar: false, responsive: true };
  window.whenPlotly(() => {
    JSON.parse(data.textContent).forEach((figure, index) => {
      Plotly.newPlot("dora-chart-" + index, figure.data, figure.layout, config);
    });
  });
})();
