// Rating pad (好差评): reasons for a bad rating, the countdown, and "not rated" when time runs out.
// The pad's state itself arrives over SSE (idle card or the question); this only handles the taps.
(function () {
  "use strict";

  // Swapped-in buttons get their htmx handlers at once, not after the default 20 ms settle: a key
  // pressed right after a live update must not land on a button that does nothing yet.
  if (window.htmx) { window.htmx.config.defaultSettleDelay = 0; }

  var root = document.querySelector(".pad");
  if (!root) { return; }
  var skew = Date.parse(root.getAttribute("data-server-time")) - Date.now();
  if (isNaN(skew)) { skew = 0; }
  var timeoutUrl = root.getAttribute("data-timeout-url");

  function csrfHeaders() {
    try { return JSON.parse(document.body.getAttribute("hx-headers") || "{}"); } catch (err) { return {}; }
  }

  function form() { return document.querySelector("form.rate"); }

  // A bad level opens the reasons; its own submit button then carries the level.
  document.addEventListener("click", function (e) {
    var bad = e.target.closest("[data-bad-level]");
    var f = form();
    if (!f) { return; }
    if (bad) {
      e.preventDefault();
      f.querySelectorAll("[data-bad-level]").forEach(function (b) { b.setAttribute("aria-pressed", String(b === bad)); });
      f.querySelector("[data-bad-submit]").value = bad.getAttribute("data-bad-level");
      var reasons = f.querySelector("[data-reasons]");
      reasons.hidden = false;
      f.classList.add("bad-open");
      reasons.scrollIntoView({ block: "nearest" });
      return;
    }
    var good = e.target.closest("button.level[type=submit]");
    if (good) {
      f.querySelectorAll("input[name=reasons]").forEach(function (box) { box.checked = false; });
      var comment = f.querySelector("textarea[name=comment]");
      if (comment) { comment.value = ""; }
    }
  });

  // Countdown, then record "not rated" (the server checks the time itself, so an early tick is harmless).
  var lastPost = 0;
  function tick() {
    var f = form();
    if (!f) { return; }
    var left = Math.ceil((Date.parse(f.getAttribute("data-deadline")) - (Date.now() + skew)) / 1000);
    var counter = f.querySelector("[data-countdown]");
    if (counter) { counter.textContent = String(Math.max(0, left)); }
    if (left <= 0 && Date.now() - lastPost > 4000) {
      lastPost = Date.now();
      fetch(timeoutUrl, { method: "POST", credentials: "same-origin", headers: csrfHeaders() });
    }
  }
  setInterval(tick, 1000);
  document.addEventListener("htmx:sseMessage", tick);
  tick();

  // The thank-you card stays a few seconds, then the idle card shows again.
  document.addEventListener("htmx:afterSwap", function (e) {
    if (!e.detail.target || e.detail.target.id !== "thanks") { return; }
    var card = e.detail.target.querySelector("[data-thanks]");
    if (card) { setTimeout(function () { card.classList.add("gone"); }, card.classList.contains("error") ? 3000 : 4000); }
  });
  // Refusals (already rated, timed out) show on the same card rather than being dropped.
  document.addEventListener("htmx:beforeSwap", function (e) {
    if (e.detail.target && e.detail.target.id === "thanks" && e.detail.xhr.status >= 400) {
      e.detail.shouldSwap = true;
      e.detail.isError = false;
    }
  });
})();
