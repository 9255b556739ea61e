// Deploy page, impact section: one chart per metric (series across the baseline and this deploy).
(function () {
  "use strict";
  const data = document.getElementById("impact-charts");
  if (!data) return;
  const figures = JSON.parse(data.textContent);
  const config = { displayModeBar: false, responsive: true };
  window.whenPlotly(() => {
    figures.forEach((figure, index) => {
      Plotly.newPlot("impact-chart-" + index, figure.data, figure.layout, config);
    });
  });
})();
