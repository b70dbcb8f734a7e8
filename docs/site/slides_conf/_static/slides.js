// Figures fit the slide: every plotly figure of a deck is drawn at most 560 px high (the slide is
// 800 px; the title and a line of text take the rest) and as wide as the slide.
(function () {
  function fit() {
    if (typeof window.Plotly === "undefined") return;
    document.querySelectorAll(".reveal .plotly-graph-div").forEach(function (div) {
      var layout = div.layout || {};
      var height = Math.min(layout.height || 450, 560);
      window.Plotly.relayout(div, { height: height, width: null, autosize: true });
    });
  }
  window.addEventListener("load", function () { setTimeout(fit, 0); });
})();
