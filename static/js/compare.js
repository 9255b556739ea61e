// Compare page: one chart per metric with both deploys' judged windows (figures built server side).
(function () {
  "use strict";
  const data = document.getElementById("compare-charts");
  if (!data) return;
  const config = { displayModeBar: false, responsive: true };
  window.whenPlotly(() => {
    JSON.parse(data.textContent).forEach((figure, index) => {
      Plotly.newPlot("compare-chart-" + index, figure.data, figure.layout, config);
    });
  });
})();
