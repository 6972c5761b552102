// The upload form of a feed: a file larger than the server takes is refused here, before
// minutes of uploading end in an error. The limit and the message come from data attributes.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-max-bytes]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        var input = form.querySelector("input[type=file]");
        var limit = Number(form.getAttribute("data-max-bytes"));
        if (!input || !input.files || !input.files[0] || input.files[0].size <= limit) { return; }
        event.preventDefault();
        var message = form.getAttribute("data-too-large");
        var field = input.closest(".field");
        var shown = field.querySelector(".field-error");
        if (!shown) {
          shown = document.createElement("p");
          shown.className = "field-error";
          shown.id = input.id + "-error";
          input.parentNode.insertBefore(shown, input);
        }
        shown.textContent = message;
        field.classList.add("has-error");
        input.setAttribute("aria-invalid", "true");
        input.setAttribute("aria-describedby", shown.id);
        input.focus();
      });
    });
  });
})();
