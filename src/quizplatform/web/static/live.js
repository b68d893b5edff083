/* Quiz Platform — live games: the WebSocket client of the host screen (#live-host) and
   of the player screen (#live-play). No framework, no inline code (the CSP forbids it).

   The socket (/api/v1/live/ws) reconnects with an exponential backoff from 0.2 s to 5 s
   with jitter (at once after close code 1012: the instance is shutting down). After 3
   attempts in a row that never got a "state", it gives up and the page falls back to
   HTTP: the player long-polls GET /api/v1/live/state?after=<version> and posts answers to
   POST /api/v1/live/answer; the host re-fetches its panel every 2 s. A player's answer is
   kept until acknowledged and sent again after a reconnect while its question is still
   open (the server acknowledges a repeat as "already": counted once). */
(function () {
  "use strict";

  var SHAPES = [["triangle", "▲"], ["diamond", "◆"], ["circle", "●"], ["square", "■"], ["star", "★"], ["hexagon", "⬢"]];
  var SEAT_KEY = "qp-live-seat";
  var REFUSED = {
    late: "Too late: time was up before your answer arrived.",
    not_open: "This question is closed.",
    invalid: "That answer could not be read. Try again.",
    kicked: "The host removed you from the game.",
    ended: "The game has ended."
  };

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") { node.textContent = attrs[k]; } else { node.setAttribute(k, attrs[k]); }
    });
    (children || []).forEach(function (c) { if (c) { node.appendChild(typeof c === "string" ? document.createTextNode(c) : c); } });
    return node;
  }

  /* The socket with its reconnects; onFallback() once it has failed 3 times in a row. */
  function Link(hello, onMessage, onStatus, onFallback) {
    var ws = null, attempt = 0, failures = 0, stopped = false, heard = false, pinger = 0;
    var url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/api/v1/live/ws";
    function connect() {
      heard = false;
      try { ws = new WebSocket(url); } catch (e) { closed({ code: 1006 }); return; }
      ws.onopen = function () {
        ws.send(JSON.stringify(hello()));
        // A ping now and then keeps an idle connection open through proxies.
        pinger = window.setInterval(function () { send({ type: "ping" }); }, 20000);
      };
      ws.onmessage = function (event) {
        var message;
        try { message = JSON.parse(event.data); } catch (e) { return; }
        if (message.type === "state" && !heard) { heard = true; attempt = 0; failures = 0; onStatus(""); }
        onMessage(message);
      };
      ws.onclose = closed;
    }
    function closed(event) {
      ws = null;
      window.clearInterval(pinger);
      if (stopped) { return; }
      if (event.code === 4401 || event.code === 4403 || event.code === 4404) {
        stopped = true;
        onMessage({ type: "gone", code: event.code });
        return;
      }
      if (!heard && ++failures >= 3) { stopped = true; onFallback(); return; }
      onStatus("Connection lost. Reconnecting…");
      var ceiling = Math.min(5000, 200 * Math.pow(2, attempt++));
      var delay = event.code === 1012 ? 0 : ceiling / 2 + Math.random() * ceiling / 2;
      window.setTimeout(connect, delay);
    }
    connect();
    function send(message) {
      if (ws && ws.readyState === 1) { ws.send(JSON.stringify(message)); return true; }
      return false;
    }
    /* No more reconnects (the game is over): close quietly. */
    function stop() {
      stopped = true;
      if (ws) { ws.close(1000); }
    }
    return { send: send, stop: stop };
  }

  function backoff(n) { var c = Math.min(5000, 200 * Math.pow(2, n)); return c / 2 + Math.random() * c / 2; }

  /* ---------------------------------------------------------------- host screen */
  function startHost(root) {
    var panel = document.getElementById("host-panel");
    var status = document.getElementById("host-connection");
    var gameId = root.getAttribute("data-game-id");
    var offset = 0, loading = false, again = false;

    function current() { return document.getElementById("host-state"); }
    function version() { var s = current(); return s ? s.getAttribute("data-version") : ""; }

    function swap(html, focusId) {
      var active = document.activeElement;
      if (!focusId && active && active.id && panel.contains(active)) { focusId = active.id; }
      panel.innerHTML = html;
      offset = Number(current().getAttribute("data-server-ms") || Date.now()) - Date.now();
      var target = focusId && (document.getElementById(focusId) || document.getElementById("host-heading"));
      if (target) { target.focus(); }
      tick();
    }

    function refresh() {
      if (loading) { again = true; return; }
      loading = true;
      fetch(location.pathname, { headers: { "X-Live-Panel": "1" }, credentials: "same-origin", cache: "no-store" })
        .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
        .then(function (html) { swap(html, null); })
        .catch(function () { status.textContent = "Could not update the screen; retrying…"; again = true; })
        .then(function () {
          loading = false;
          if (again) { again = false; window.setTimeout(refresh, 300); }
        });
    }

    document.addEventListener("submit", function (event) {
      var form = event.target;
      if (!form.classList || !form.classList.contains("host-control")) { return; }
      event.preventDefault();
      var button = form.querySelector("button");
      var focusId = button ? button.id : null;
      if (button) { button.disabled = true; }
      fetch(form.action, {
        method: "POST", body: new URLSearchParams(new FormData(form)),
        headers: { "X-Live-Panel": "1" }, credentials: "same-origin"
      })
        .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
        .then(function (html) { swap(html, focusId || "host-heading"); })
        .catch(function () {
          if (button) { button.disabled = false; }
          status.textContent = "That did not reach the server. Try again.";
        });
    });

    function tick() {
      var state = current(), counter = document.getElementById("host-countdown");
      if (!state || !counter) { return; }
      var phase = state.getAttribute("data-phase"), left;
      if (phase === "paused") { left = Math.ceil(Number(state.getAttribute("data-remaining-ms") || 0) / 1000); }
      else { left = Math.ceil((Number(state.getAttribute("data-deadline-ms")) - (Date.now() + offset)) / 1000); }
      left = Math.max(0, left || 0);
      counter.textContent = String(left);
      counter.classList.toggle("host-countdown--low", left <= 5);
    }
    window.setInterval(tick, 250);
    offset = Number((current() && current().getAttribute("data-server-ms")) || Date.now()) - Date.now();
    tick();

    Link(function () { return { type: "host", game_id: gameId }; }, function (m) {
      if (m.type === "state") {
        status.textContent = "";
        if (String(m.version) !== version()) { refresh(); }
      } else if (m.type === "answers") {
        var count = document.getElementById("answer-count");
        if (count) { count.textContent = String(m.count); }
      } else if (m.type === "gone") {
        status.textContent = "The live connection was refused; reload the page to try again.";
      }
    }, function (text) { status.textContent = text; }, function () {
      status.textContent = "Live updates are blocked on this network; the screen updates every 2 seconds.";
      window.setInterval(refresh, 2000);
    });
  }

  /* ---------------------------------------------------------------- player screen */
  function readSeat() {
    var match = /[#&]seat=([^&]+)/.exec(location.hash);
    try {
      if (match) {
        window.localStorage.setItem(SEAT_KEY, decodeURIComponent(match[1]));
        history.replaceState(null, "", location.pathname);  // keep the token out of the address bar
      }
      return window.localStorage.getItem(SEAT_KEY);
    } catch (e) {
      return match ? decodeURIComponent(match[1]) : null;
    }
  }

  function startPlayer() {
    var screen = document.getElementById("play-screen");
    var announcer = document.getElementById("play-announcer");
    var connection = document.getElementById("play-connection");
    var seat = readSeat();
    var state = null, offset = 0, pending = null, link = null, polling = false;
    var nonce = 0;

    function say(text) { announcer.textContent = ""; window.setTimeout(function () { announcer.textContent = text; }, 50); }

    function page(title, lines, focus) {
      screen.innerHTML = "";
      var heading = el("h1", { id: "play-title", tabindex: "-1", text: title });
      screen.appendChild(heading);
      lines.forEach(function (line) { screen.appendChild(typeof line === "string" ? el("p", { text: line }) : line); });
      if (focus) { heading.focus(); }
    }

    function leave(title, text) {
      try { window.localStorage.removeItem(SEAT_KEY); } catch (e) { /* private mode */ }
      page(title, [text, el("p", {}, [el("a", { href: "/live", class: "button", text: "Join a game" })])], true);
      say(title + ". " + text);
    }

    if (!seat) { leave("No game joined", "Join with the PIN on the screen and a nickname."); return; }

    function statusLine(text, kind) {
      var line = document.getElementById("play-status");
      if (!line) { line = el("p", { id: "play-status", class: "play-status" }); screen.appendChild(line); }
      line.className = "play-status" + (kind ? " play-status--" + kind : "");
      line.textContent = text;
    }

    function disable() { screen.querySelectorAll("button, input").forEach(function (b) { b.disabled = true; }); }

    function send(answer) {
      pending = { type: "answer", id: "a" + Date.now().toString(36) + (nonce++), index: state.index, answer: answer };
      disable();
      statusLine("Answer sent…", "");
      transmit();
    }

    function transmit() {
      if (!pending) { return; }
      if (!polling) { link.send(pending); return; }  // else resent after the next "state"
      if (pending.posting) { return; }
      pending.posting = true;
      var body = JSON.stringify({ index: pending.index, answer: pending.answer, id: pending.id });
      var sent = pending, tries = 0;
      (function post() {
        fetch("/api/v1/live/answer", { method: "POST", body: body, credentials: "omit",
          headers: { "Content-Type": "application/json", "X-Live-Seat": seat } })
          .then(function (r) { return r.json(); })
          .then(function (ack) { ack.type = "ack"; ack.id = ack.id || sent.id; onMessage(ack); })
          .catch(function () { if (pending === sent) { window.setTimeout(post, backoff(tries++)); } });
      })();
    }

    function onAck(m) {
      if (!pending || m.id !== pending.id) { return; }
      pending = null;
      if (m.accepted) {
        statusLine("Answer recorded. Wait for the results.", "");
        say("Answer recorded.");
      } else {
        statusLine(REFUSED[m.reason] || "Your answer was not accepted.", "wrong");
        say(REFUSED[m.reason] || "Your answer was not accepted.");
      }
    }

    function header(m) {
      var you = m.you || {};
      document.getElementById("play-nick").textContent = you.nickname || "";
      document.getElementById("play-score").textContent = you.score === undefined ? "" : you.score + " points";
    }

    function secondsLeft() {
      if (!state) { return 0; }
      if (state.phase === "paused") { return Math.ceil((state.remaining_ms || 0) / 1000); }
      return Math.max(0, Math.ceil((state.deadline_ms - (Date.now() + offset)) / 1000));
    }

    function plain(question, text) {
      if (question.text_format === "html" || question.text_format === "markdown") {
        return new DOMParser().parseFromString(String(text), "text/html").body.textContent || "";
      }
      return String(text);
    }

    function choiceButton(n, text, pressedToggle, onChoose) {
      var shape = SHAPES[n % SHAPES.length];
      var button = el("button", { type: "button", class: "play-choice live-c" + (n % SHAPES.length) }, [
        el("span", { class: "live-shape", "aria-hidden": "true", text: shape[1] }),
        el("span", { class: "visually-hidden", text: shape[0] + ": " }),
        el("span", { text: text })
      ]);
      if (pressedToggle) { button.setAttribute("aria-pressed", "false"); }
      button.addEventListener("click", function () { onChoose(button); });
      return el("li", {}, [button]);
    }

    function controls(q) {
      var type = q.type, options = q.options || [], box = el("div", { class: "play-controls" });
      if (type === "true_false") {
        var tf = el("ul", { class: "play-answers play-answers--tf" });
        [[true, "True"], [false, "False"]].forEach(function (v, n) {
          tf.appendChild(choiceButton(n + 1, v[1], false, function (b) { b.setAttribute("aria-pressed", "true"); send({ value: v[0] }); }));
        });
        box.appendChild(tf);
      } else if (type === "single_choice" || type === "multiple_choice") {
        var multi = type === "multiple_choice", chosen = {};
        var list = el("ul", { class: "play-answers" + (options.length < 3 ? " play-answers--one" : "") });
        options.forEach(function (o, n) {
          list.appendChild(choiceButton(n, plain(q, o.text), multi, function (b) {
            if (!multi) { b.setAttribute("aria-pressed", "true"); send({ option_id: o.id }); return; }
            chosen[o.id] = !chosen[o.id];
            b.setAttribute("aria-pressed", String(chosen[o.id]));
          }));
        });
        box.appendChild(list);
        if (multi) {
          box.appendChild(sendButton(function () {
            var ids = options.filter(function (o) { return chosen[o.id]; }).map(function (o) { return o.id; });
            if (!ids.length) { statusLine("Choose at least one answer first.", "wrong"); return; }
            send({ option_ids: ids });
          }));
        }
      } else if (type === "numeric" || type === "short_answer") {
        var numeric = type === "numeric";
        var input = el("input", { id: "play-input", type: "text", autocomplete: "off", inputmode: numeric ? "decimal" : "text" });
        box.appendChild(el("div", { class: "field play-field" }, [el("label", { for: "play-input", text: numeric ? "Your number" : "Your answer" }), input]));
        box.appendChild(sendButton(function () {
          var raw = input.value.trim();
          if (!raw) { statusLine("Type your answer first.", "wrong"); return; }
          if (!numeric) { send({ text: raw }); return; }
          var value = Number(raw.replace(",", "."));
          if (!isFinite(value)) { statusLine("Type a number, such as 42 or 3.5.", "wrong"); return; }
          send({ value: value });
        }));
      } else if (type === "ordering") {
        box.appendChild(ordering(q));
      } else {
        box.appendChild(el("p", { text: "Answer on the big screen's instructions." }));
      }
      return box;
    }

    function sendButton(onSend) {
      var button = el("button", { type: "button", id: "play-send", class: "button play-send", text: "Send answer" });
      button.addEventListener("click", onSend);
      return button;
    }

    function ordering(q) {
      var items = (q.items || []).slice(), wrap = el("div");
      var list = el("ol", { class: "play-order", "aria-label": "Your order" });
      function draw(focusId) {
        list.innerHTML = "";
        items.forEach(function (item, n) {
          var text = plain(q, item.text);
          var up = el("button", { type: "button", class: "button button--small button--secondary", id: "up-" + item.id, text: "Up" });
          var down = el("button", { type: "button", class: "button button--small button--secondary", id: "down-" + item.id, text: "Down" });
          up.setAttribute("aria-label", "Move " + text + " up");
          down.setAttribute("aria-label", "Move " + text + " down");
          up.addEventListener("click", function () { move(n, -1, up.id); });
          down.addEventListener("click", function () { move(n, 1, down.id); });
          list.appendChild(el("li", {}, [el("span", { class: "play-order__text", text: text }), up, down]));
        });
        if (focusId && document.getElementById(focusId)) { document.getElementById(focusId).focus(); }
      }
      function move(n, step, focusId) {
        var to = n + step;
        if (to < 0 || to >= items.length) { return; }
        var item = items.splice(n, 1)[0];
        items.splice(to, 0, item);
        draw(focusId);
        say(plain(q, item.text) + ": position " + (to + 1) + " of " + items.length + ".");
      }
      draw(null);
      wrap.appendChild(list);
      wrap.appendChild(sendButton(function () { send({ item_ids: items.map(function (i) { return i.id; }) }); }));
      return wrap;
    }

    function render(m, fresh) {
      var you = m.you || {}, number = (m.index || 0) + 1;
      if (m.phase === "lobby") {
        page("You are in!", ["Your nickname is " + (you.nickname || "") + ".", "Wait for the host to start the game."], fresh);
        say("You are in the game as " + (you.nickname || "") + ". Wait for the host to start.");
      } else if (m.phase === "question" && m.question) {
        var prompt = plain(m.question, m.question.prompt);
        page("Question " + number + " of " + m.count, [
          el("p", { class: "play-timer", id: "play-timer", "aria-hidden": "true" }),
          el("p", { class: "play-prompt", text: prompt })
        ], fresh);
        if (m.answered) {
          statusLine("Your answer is recorded. Wait for the results.", "");
        } else if (pending && pending.index === m.index) {
          screen.appendChild(controls(m.question)); disable(); statusLine("Answer sent…", "");
        } else {
          screen.appendChild(controls(m.question));
        }
        if (fresh) { say("Question " + number + " of " + m.count + ". " + prompt + " " + secondsLeft() + " seconds."); }
      } else if (m.phase === "paused") {
        page("Paused", ["The host has paused the game. It goes on from here."], fresh);
        say("The game is paused.");
      } else if (m.phase === "closed") {
        var last = you.last, lines = [], text;
        if (!last || last.correct === null || last.correct === undefined) { text = last && last.points ? "Partly right: +" + last.points + " points." : (last ? "Not right this time." : "No answer this time."); }
        else if (last.correct) { text = "Right! +" + (last.points + (last.bonus || 0)) + " points" + (last.bonus ? " (" + last.bonus + " streak bonus)." : "."); }
        else { text = last.points ? "Partly right: +" + last.points + " points." : "Not right this time."; }
        lines.push(el("p", { class: "play-status play-status--" + (last && last.correct ? "right" : "wrong"), id: "play-result", text: text }));
        var standing = "Score " + (you.score || 0) + (you.rank ? " · rank " + you.rank + " of " + m.players : "");
        lines.push(el("p", { class: "play-big", text: standing }));
        lines.push("Wait for the next question.");
        page("Question " + number + ": result", lines, fresh);
        say(text + " " + standing + ".");
      } else if (m.phase === "ended") {
        var podium = el("ol", { class: "podium" });
        (m.leaderboard || []).slice(0, 3).forEach(function (row, n) {
          podium.appendChild(el("li", { class: "podium__place podium__place--" + (n + 1) }, [
            el("span", { class: "podium__rank", text: String(n + 1) }), " ",
            el("span", { class: "podium__nick", text: row.nickname }), " ",
            el("span", { class: "podium__score", text: row.score + " points" })
          ]));
        });
        var mine = "You finished" + (you.rank ? " " + ordinal(you.rank) : "") + " with " + (you.score || 0) + " points.";
        page("Game over", [el("p", { class: "play-big", text: mine }), el("h2", { text: "Podium" }), podium], fresh);
        say("Game over. " + mine);
      }
      tick();
    }

    function ordinal(n) {
      var s = ["th", "st", "nd", "rd"], v = n % 100;
      return n + (s[(v - 20) % 10] || s[v] || s[0]);
    }

    function tick() {
      var timer = document.getElementById("play-timer");
      if (!timer || !state) { return; }
      var left = secondsLeft();
      timer.textContent = state.phase === "paused" ? "Paused" : (left > 0 ? left + " s left" : "Time is up");
      if (left === 0 && state.phase === "question" && !pending && !state.answered) { disable(); }
    }
    window.setInterval(tick, 250);

    function onState(m) {
      offset = (m.server_ms || Date.now()) - Date.now();
      header(m);
      // Only a new phase or question redraws the screen: a join during a question also
      // changes the version, and must not wipe a half-typed answer.
      var fresh = !state || m.phase !== state.phase || m.index !== state.index;
      var recorded = !fresh && m.phase === "question" && m.answered && !state.answered;
      // Results sent again (an answer read in time but recorded after the close): redraw.
      var revised = !fresh && (m.phase === "closed" || m.phase === "ended") && outcome(m) !== outcome(state);
      state = m;
      if (m.phase === "question" && pending && pending.index === m.index) {
        if (m.answered) { pending = null; } else { transmit(); }  // resend after a reconnect
      } else if (pending && pending.index !== m.index) {
        pending = null;
      }
      if (fresh || revised) { render(m, fresh); }
      if (m.phase === "ended" && link && link.stop) { link.stop(); }
      else if (recorded) { statusLine("Answer recorded. Wait for the results.", ""); }
    }

    function outcome(m) {
      var you = m.you || {};
      return JSON.stringify([you.score, you.rank, you.last, m.leaderboard || null]);
    }

    function onMessage(m) {
      if (m.type === "state") { onState(m); }
      else if (m.type === "ack") { onAck(m); }
      else if (m.type === "kicked") { leave("Removed from the game", "The host removed you from this game."); }
      else if (m.type === "gone") {
        if (m.code === 4403) { leave("Removed from the game", "The host removed you from this game."); }
        else if (m.code === 4404) { leave("Game over", "This game no longer exists."); }
        else { leave("Seat not found", "Your place in the game could not be found. Join again."); }
      }
    }

    function poll(version, tries) {
      fetch("/api/v1/live/state" + (version === null ? "" : "?after=" + version), {
        headers: { "X-Live-Seat": seat }, credentials: "omit", cache: "no-store"
      }).then(function (r) {
        if (r.status === 401 || r.status === 403 || r.status === 404) {
          onMessage({ type: "gone", code: 4000 + r.status });
          return null;
        }
        return r.ok ? r.json() : Promise.reject(r.status);
      }).then(function (m) {
        if (!m) { return; }
        m.type = "state";
        onMessage(m);
        if (m.phase !== "ended") { poll(m.version, 0); }
      }).catch(function () {
        connection.textContent = "Connection lost. Reconnecting…";
        window.setTimeout(function () { poll(version, tries + 1); }, backoff(tries));
      });
    }

    link = Link(function () { return { type: "hello", seat: seat }; }, onMessage, function (text) {
      connection.textContent = text;
    }, function () {
      polling = true;
      connection.textContent = "";
      poll(null, 0);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var host = document.getElementById("live-host");
    if (host) { startHost(host); }
    if (document.getElementById("live-play")) { startPlayer(); }
  });
})();
