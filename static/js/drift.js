// Deploy page, drift section: the severity bar chart and the per-column distribution overlay.
(function () {
  "use strict";
  const data = document.getElementById("drift-charts");
  if (!data) return;
  const charts = JSON.parse(data.textContent);
  const config = { displayModeBar: false, responsive: true };
  const select = document.getElementById("drift-column");

  function draw(figure, target) {
    Plotly.newPlot(target, figure.data, figure.layout, config);
  }

  function showColumn(name) {
    const figure = charts.overlays[name];
    if (!figure) return;
    select.value = name;
    draw(figure, "drift-overlay");
  }

  window.whenPlotly(() => {
    draw(charts.bars, "drift-chart");
    if (select && select.options.length) showColumn(select.options[0].value);
    select && select.addEventListener("change", () => showColumn(select.value));
    document.querySelectorAll(".drift-show").forEach((button) =>
      button.addEventListener("click", () => {
        showColumn(button.dataset.column);
        document.getElementById("drift-overlay").scrollIntoView({ behavior: "smooth", block: "center" });
      })
    );
    // x is the label as drawn (markup escaped); the raw column name is the last customdata entry.
    document.getElementById("drift-chart").on("plotly_click", (event) => showColumn(event.points[0].customdata.at(-1)));
  });
})();
