// The verification screen's keyboard shortcuts: v verifies, r returns (focuses the reason;
// a second r, or the button, sends it), n opens the next application of the queue. The
// element #shortcuts names the targets in data attributes (CSP: no inline script). Never
// while typing in a field, nor with a modifier key (the browser's own shortcuts stay).
(function () {
  "use strict";
  function typing(target) {
    if (!target || !target.tagName) { return false; }
    var tag = target.tagName.toLowerCase();
    return tag === "input" || tag === "textarea" || tag === "select" || target.isContentEditable;
  }
  document.addEventListener("keydown", function (event) {
    var shortcuts = document.getElementById("shortcuts");
    if (!shortcuts || event.altKey || event.ctrlKey || event.metaKey || typing(event.target)) {
      return;
    }
    var key = (event.key || "").toLowerCase();
    if (key === "v") {
      var button = document.getElementById(shortcuts.getAttribute("data-verify"));
      if (button) { event.preventDefault(); button.click(); }
    } else if (key === "r") {
      var reason = document.getElementById(shortcuts.getAttribute("data-return"));
      if (reason) { event.preventDefault(); reason.focus(); }
    } else if (key === "n") {
      var next = shortcuts.getAttribute("data-next");
      if (next) { event.preventDefault(); window.location.assign(next); }
    }
  });
})();
