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

  /* Saving through a database switchover. A save answered 503 (saving is paused: the
     database has no leader for a moment, X-Quiz-Read-Only; or a service is down), 502 or
     504, or lost on the way, keeps the answer in the page: the question says "Waiting to
     save…", the banner says saving is paused, and the form is sent again after 1 s, 2 s,
     4 s, then every 8 s until it is saved. A retry sends the form as it is then, so the
     latest answer wins. The submit waits until every answer is saved, and is retried the
     same way (submitting twice gives the same result). */
  var PAUSED = "Saving is paused for a moment; your answers are kept and sent when it is back.";
  var retries = {}; // form id -> {delay: ms, timer: id}; a form waiting to be sent again
  var submitWhenSaved = false;

  function formOf(event) {
    var elt = event.detail.elt;
    var form = elt && elt.closest ? elt.closest("form") : null;
    return form && (form.id === "submit-form" || form.classList.contains("question")) ? form : null;
  }

  function say(id, text) {
    var element = document.getElementById(id);
    if (element && element.textContent !== text) { element.textContent = text; }
  }

  function sendAgainLater(form) {
    var retry = retries[form.id] || (retries[form.id] = { delay: 1000, timer: 0 });
    if (retry.timer) { return; }
    retry.timer = window.setTimeout(function () {
      retry.timer = 0;
      htmx.trigger(form, "submit");
    }, retry.delay);
    retry.delay = Math.min(retry.delay * 2, 8000);
  }

  function questionsWaiting() {
    return Object.keys(retries).some(function (id) { return id !== "submit-form"; });
  }

  function forget(form) {
    var retry = retries[form.id];
    if (retry) { window.clearTimeout(retry.timer); delete retries[form.id]; }
  }

  function paused(form) {
    say("save-paused", PAUSED);
    var line = form.id === "submit-form" ? null : statusFor(form);
    if (line) { line.textContent = "Waiting to save…"; line.classList.remove("save-status--error"); }
    else { say("submit-status", "Waiting to submit… your answers are kept."); }
    sendAgainLater(form);
  }

  function sent(form) {
    forget(form);
    if (questionsWaiting()) { return; }
    if (!retries["submit-form"]) { say("save-paused", ""); }
    if (submitWhenSaved) {
      submitWhenSaved = false;
      htmx.trigger(document.getElementById("submit-form"), "submit");
    }
  }

  /* 502-504 are not htmx errors here (base.html's responseHandling): saving paused is
     expected for a moment, not a fault to log. */
  document.addEventListener("htmx:afterRequest", function (event) {
    var form = formOf(event);
    if (!form) { return; }
    var status = event.detail.xhr ? event.detail.xhr.status : 0;
    if (status === 0 || (status >= 502 && status <= 504)) { paused(form); }
    else if (event.detail.successful) { sent(form); }
    else if (form.id !== "submit-form") {
      var line = statusFor(form);
      line.textContent = "Not saved: something went wrong. Change the answer again to retry.";
      line.classList.add("save-status--error");
    }
  });

  /* The submit goes after every answer is saved (the server scores what it has). */
  document.addEventListener("htmx:beforeRequest", function (event) {
    var form = formOf(event);
    if (!form || form.id !== "submit-form" || !questionsWaiting()) { return; }
    event.preventDefault();
    forget(form);
    submitWhenSaved = true;
    say("submit-status", "Submitting as soon as your answers are saved…");
  });

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
