// Plotly after the page: the bundle (named by this script's data-src) is fetched once the page has loaded, so it
// never holds up the first paint or the load event; then each chart script's drawing runs. A page's script hands
// its drawing to window.whenPlotly(draw) and it runs as soon as Plotly is there.
(function () {
  "use strict";
  var loader = document.currentScript;
  var queue = [];
  window.whenPlotly = function (draw) {
    if (window.Plotly) draw();
    else queue.push(draw);
  };
  function load() {
    var script = document.createElement("script");
    script.src = loader.dataset.src;
    script.addEventListener("load", function () {
      var waiting = queue;
      queue = [];
      waiting.forEach(function (draw) { draw(); });
    });
    document.head.appendChild(script);
  }
  if (document.readyState === "complete") load();
  else window.addEventListener("load", load);
})();
