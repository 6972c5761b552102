// Charts: every [data-chart] element gets an ECharts chart (SVG, aria on) from the JSON in the
// element its attribute names; drawn on load and after an HTMX swap, resized with the window.
(function () {
  "use strict";
  function draw(root) {
    if (!window.echarts) { return; }
    root.querySelectorAll("[data-chart]").forEach(function (element) {
      var source = document.getElementById(element.getAttribute("data-chart"));
      if (!source) { return; }
      var option = JSON.parse(source.textContent);
      option.aria = Object.assign({ enabled: true }, option.aria || {});
      var chart = window.echarts.getInstanceByDom(element);
      if (!chart) {
        chart = window.echarts.init(element, null, { renderer: "svg" });
        // Follows its box (a phone turned, a window narrowed), not only the window.
        if (window.ResizeObserver) {
          new window.ResizeObserver(function () { chart.resize(); }).observe(element);
        }
      }
      chart.setOption(option, true);
    });
  }
  document.addEventListener("DOMContentLoaded", function () { draw(document); });
  document.addEventListener("htmx:afterSwap", function (event) { draw(event.target); });
  window.addEventListener("resize", function () {
    if (!window.echarts) { return; }
    document.querySelectorAll("[data-chart]").forEach(function (element) {
      var chart = window.echarts.getInstanceByDom(element);
      if (chart) { chart.resize(); }
    });
  });
  // Focus the error summary of a form that came back with errors (GOV.UK pattern).
  document.addEventListener("DOMContentLoaded", function () {
    var summary = document.querySelector(".error-summary");
    if (summary) { summary.focus(); }
  });
})();
