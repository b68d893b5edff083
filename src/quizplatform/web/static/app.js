/* Quiz Platform — the little behaviour the pages need beyond htmx. No inline scripts
   (the Content-Security-Policy forbids them): pages describe what they need with data-*
   attributes and this file acts on them. */
(function () {
  "use strict";

  /* A form that failed validation: move focus to its error summary so it is read out. */
  function focusErrorSummary() {
    var summary = document.getElementById("error-summary");
    if (summary) { summary.focus(); }
  }

  document.addEventListener("DOMContentLoaded", function () {
    focusErrorSummary();
  });
})();
