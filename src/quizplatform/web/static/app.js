/* Quiz Platform — the little behaviour the pages need beyond htmx. No inline scripts
   (the Content-Security-Policy forbids them): pages describe what they need with ids and
   data-* attributes, and this file acts on them. Everything works without it, only less
   smoothly (forms post normally; the server submits an attempt whose time is up). */
(function () {
  "use strict";

  /* A form that failed validation: move focus to its error summary so it is read out. */
  function focusErrorSummary() {
    var summary = document.getElementById("error-summary");
    if (summary) { summary.focus(); }
  }

  /* The countdown of an attempt. The server gives its deadline and its own clock, so a
     wrong clock on the device does not matter; at zero the answers are submitted (the
     server also submits on its own once the deadline has passed). */
  function startTimer() {
    var timer = document.getElementById("timer");
    if (!timer) { return; }
    var text = document.getElementById("timer-text");
    var announcer = document.getElementById("timer-announcer");
    var deadline = Date.parse(timer.getAttribute("data-deadline"));
    var offset = Date.parse(timer.getAttribute("data-now")) - Date.now();
    var warnings = [[300, "5 minutes left."], [60, "1 minute left."], [10, "10 seconds left."]];
    var submitted = false;

    function format(seconds) {
      var h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
      var mm = h ? String(m).padStart(2, "0") : String(m);
      return (h ? h + ":" : "") + mm + ":" + String(s).padStart(2, "0");
    }

    function tick() {
      var left = Math.max(0, Math.ceil((deadline - (Date.now() + offset)) / 1000));
      text.textContent = format(left);
      timer.classList.toggle("timer--low", left <= 60);
      while (warnings.length && left <= warnings[0][0]) {
        var warning = warnings.shift();
        if (left > 0 && left > warning[0] - 5) { announcer.textContent = warning[1]; }
      }
      if (left === 0 && !submitted) {
        submitted = true;
        announcer.textContent = "Time is up. Your answers are being submitted.";
        // Leaving the field being typed in fires its "change": its autosave is queued
        // before the submit.
        if (document.activeElement && document.activeElement.blur) { document.activeElement.blur(); }
        var form = document.getElementById("submit-form");
        if (form) { form.requestSubmit(); }
        return;
      }
      window.setTimeout(tick, 1000 - ((Date.now() + offset) % 1000) + 20);
    }
    tick();
  }

  function statusFor(form) {
    return form ? form.querySelector(".save-status") : null;
  }

  /* A rejected answer (422): mark the inputs of its question as invalid. */
  document.addEventListener("htmx:afterRequest", function (event) {
    var form = event.detail.elt.closest ? event.detail.elt.closest("form.question") : null;
    if (!form || !event.detail.xhr) { return; }
    var invalid = event.detail.xhr.status === 422;
    form.querySelectorAll("[data-validate]").forEach(function (input) {
      if (invalid) { input.setAttribute("aria-invalid", "true"); }
      else { input.removeAttribute("aria-invalid"); }
    });
  });

  /* The network failed: say so where the student is looking. */
  function notSaved(event) {
    var form = event.detail.elt.closest ? event.detail.elt.closest("form.question") : null;
    var status = statusFor(form);
    if (status) {
      status.textContent = "Not saved: the connection failed. Change the answer again to retry.";
      status.classList.add("save-status--error");
    }
  }
  document.addEventListener("htmx:sendError", notSaved);
  document.addEventListener("htmx:responseError", notSaved);

  /* An "aria-disabled" move button at the end of a list stays focusable (focus would be
     lost if it were really disabled) but does nothing. */
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("button[aria-disabled='true']") : null;
    if (button) { event.preventDefault(); event.stopPropagation(); }
  }, true);

  document.addEventListener("DOMContentLoaded", function () {
    focusErrorSummary();
    startTimer();
  });
})();
