// Clerk console and manager console: keyboard shortcuts, toasts, the transfer dialog and live
// "minutes since" counters. Everything else is htmx over the page's SSE stream (no polling).
(function () {
  "use strict";

  // Swapped-in buttons get their htmx handlers at once, not after the default 20 ms settle: a key
  // pressed right after a live update must not land on a button that does nothing yet.
  if (window.htmx) { window.htmx.config.defaultSettleDelay = 0; }

  var root = document.querySelector("[data-server-time]");
  // Server minus browser clock, so "waiting 12 min" agrees with the server's idea of now.
  var skew = root ? Date.parse(root.getAttribute("data-server-time")) - Date.now() : 0;
  if (isNaN(skew)) { skew = 0; }

  function tick() {
    var now = Date.now() + skew;
    document.querySelectorAll("[data-since]").forEach(function (el) {
      var since = Date.parse(el.getAttribute("data-since"));
      if (!isNaN(since)) { el.textContent = String(Math.max(0, Math.floor((now - since) / 60000))); }
    });
  }
  setInterval(tick, 15000);
  document.addEventListener("htmx:afterSettle", tick);
  document.addEventListener("htmx:sseMessage", tick);
  tick();

  // Refusals (409, 403, 400) come back as a red toast: swap them too instead of dropping them.
  document.addEventListener("htmx:beforeSwap", function (e) {
    var target = e.detail.target;
    if (target && target.id === "toast" && e.detail.xhr.status >= 400 && e.detail.xhr.status < 500) {
      e.detail.shouldSwap = true;
      e.detail.isError = false;
    }
  });

  // Toasts fade after a few seconds; a new one replaces the old.
  var fadeTimer = null;
  document.addEventListener("htmx:afterSwap", function (e) {
    if (!e.detail.target || e.detail.target.id !== "toast") { return; }
    var toast = e.detail.target.querySelector(".toast");
    if (!toast) { return; }
    clearTimeout(fadeTimer);
    fadeTimer = setTimeout(function () { toast.classList.add("fade"); }, toast.classList.contains("error") ? 6000 : 3500);
  });

  // Forms that should start empty again after a success (green channel, reprint, transfer).
  document.addEventListener("htmx:afterRequest", function (e) {
    var form = e.detail.elt;
    if (!form || form.tagName !== "FORM" || !e.detail.successful) { return; }
    if (form.hasAttribute("data-reset-on-success")) { form.reset(); }
    if (form.hasAttribute("data-transfer-form")) {
      form.reset();
      var dialog = form.closest("dialog");
      if (dialog && dialog.open) { dialog.close(); }
    }
  });

  // The transfer dialog: one form, filled with whichever ticket is current.
  function openTransfer(button) {
    var dialog = document.getElementById("transfer-dialog");
    if (!dialog) { return; }
    var form = dialog.querySelector("form");
    form.querySelector("input[name=ticket]").value = button.getAttribute("data-ticket");
    dialog.querySelector(".transfer-number").textContent = button.getAttribute("data-number");
    dialog.showModal();
    var first = dialog.querySelector("input[name=target]");
    if (first) { first.focus(); }
  }
  document.addEventListener("click", function (e) {
    var opener = e.target.closest("[data-open-transfer]");
    if (opener) { e.preventDefault(); openTransfer(opener); return; }
    var closer = e.target.closest("[data-close-dialog]");
    if (closer) { e.preventDefault(); closer.closest("dialog").close(); }
  });

  // Keyboard shortcuts: a key presses the visible, enabled button that carries data-key.
  var ALIASES = { " ": "n", "Spacebar": "n" };
  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.altKey || e.metaKey || e.repeat) { return; }
    var active = document.activeElement;
    if (active && (/^(INPUT|SELECT|TEXTAREA)$/.test(active.tagName) || active.isContentEditable)) { return; }
    if (document.querySelector("dialog[open]")) { return; }
    var key = ALIASES[e.key] || (e.key.length === 1 ? e.key.toLowerCase() : "");
    if (!key) { return; }
    var button = document.querySelector('[data-key="' + key + '"]:not([disabled])');
    if (!button || button.offsetParent === null) { return; }
    e.preventDefault();
    button.click();
  });
})();
