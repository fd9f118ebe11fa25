// Plotly sizes a figure to its container when it first draws. On pages with the contents sidebar
// that can happen before the sidebar takes its width, leaving the figure wider than its column and
// clipped; once the page is laid out, size every figure to its container again.
window.addEventListener("load", function () {
  if (!window.Plotly) return;
  document.querySelectorAll(".js-plotly-plot").forEach(function (el) { Plotly.Plots.resize(el); });
});
