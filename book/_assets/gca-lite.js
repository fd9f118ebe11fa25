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

// Long option names (model.gca_alpha_per_channel) in the decisions table: allow a line break after
// each "." and "_" so that a narrow column breaks them between their parts, never mid-word.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("table.gca-decisions code").forEach(function (code) {
    var walker = document.createTreeWalker(code, NodeFilter.SHOW_TEXT);
    var nodes = [];
    while (walker.nextNode()) nodes.push(walker.currentNode);
    nodes.forEach(function (node) {
      if (!/[._]/.test(node.nodeValue)) return;
      var frag = document.createDocumentFragment();
      node.nodeValue.split(/(?<=[._])/).forEach(function (part, i) {
        if (i) frag.appendChild(document.createElement("wbr"));
        frag.appendChild(document.createTextNode(part));
      });
      node.parentNode.replaceChild(frag, node);
    });
  });
});
