// Plotly sizes a figure to its container when it first draws. On pages with the contents sidebar
// that can happen before the sidebar takes its width, leaving the figure wider than its column and
// clipped; once the page is laid out, size every figure to its container again.
window.addEventListener("load", function () {
  if (!window.Plotly) return;
  document.querySelectorAll(".js-plotly-plot").forEach(function (el) { Plotly.Plots.resize(el); });
});

// A table wider than its column scrolls sideways, but in a long table the sideways scrollbar sits
// at the table's foot, out of view. So a table that overflows its column goes into a box no taller
// than the window (both scrollbars in reach, header row kept in view). Checked again on resize and
// when a folded block opens: a table inside a closed <details> has no width yet.
function gcaBoxWideTables() {
  document.querySelectorAll("table.gca-table").forEach(function (table) {
    var box = table.parentElement;
    if (!box.classList.contains("gca-scroll")) {
      if (!table.offsetWidth || table.offsetWidth <= box.clientWidth + 1) return;
      var wrapper = document.createElement("div");
      wrapper.className = "gca-scroll";
      box.insertBefore(wrapper, table);
      wrapper.appendChild(table);
    }
  });
}
window.addEventListener("load", gcaBoxWideTables);
window.addEventListener("resize", gcaBoxWideTables);
document.addEventListener("toggle", gcaBoxWideTables, true);  // <details> opened (toggle does not bubble)
