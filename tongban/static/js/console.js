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
  // A break's mm:ss and the undo control's seconds left, every second; at zero the undo goes away
  // (the server would refuse it by then: UNDO_S in queue/service.py).
  function pad2(n) { return (n < 10 ? "0" : "") + n; }
  function tickSeconds() {
    var now = Date.now() + skew;
    document.querySelectorAll("[data-timer-since]").forEach(function (el) {
      var since = Date.parse(el.getAttribute("data-timer-since"));
      if (isNaN(since)) { return; }
      var s = Math.max(0, Math.floor((now - since) / 1000));
      el.textContent = pad2(Math.floor(s / 60)) + ":" + pad2(s % 60);
    });
    document.querySelectorAll("[data-undo-until]").forEach(function (bar) {
      var left = Math.ceil((Date.parse(bar.getAttribute("data-undo-until")) - now) / 1000);
      if (isNaN(left)) { return; }
      if (left <= 0) { bar.remove(); return; }
      var count = bar.querySelector("[data-undo-left]");
      // Never up: the server's count was right when drawn; the clock skew is only an estimate.
      if (count && !(left > parseInt(count.textContent, 10))) { count.textContent = String(left); }
    });
  }
  setInterval(tickSeconds, 1000);
  document.addEventListener("htmx:afterSettle", tickSeconds);
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
    if (toast.hasAttribute("data-confirm-no-show")) {
      // The second press is for now, not for later: the question goes away on its own.
      fadeTimer = setTimeout(function () { toast.remove(); }, 10000);
      return;
    }
    fadeTimer = setTimeout(function () { toast.classList.add("fade"); }, toast.classList.contains("error") ? 6000 : 3500);
  });

  // A reason menu (suspend, break) open closes the others, so 1–4 pick from the one in view. A live
  // update redraws the card or the window's state under it (someone took a ticket): it stays open.
  var openMenu = null;
  document.addEventListener("toggle", function (e) {
    var menu = e.target;
    if (!menu.matches || !menu.matches("details[data-menu]")) { return; }
    if (!menu.open) {
      if (menu.id === openMenu) { openMenu = null; }
      return;
    }
    openMenu = menu.id;
    document.querySelectorAll("details[data-menu][open]").forEach(function (other) {
      if (other !== menu) { other.open = false; }
    });
  }, true);
  function keepMenuOpen() {
    var menu = openMenu && document.getElementById(openMenu);
    if (menu && !menu.open) { menu.open = true; }
  }
  document.addEventListener("htmx:afterSettle", keepMenuOpen);
  document.addEventListener("htmx:sseMessage", keepMenuOpen);
  document.addEventListener("htmx:beforeRequest", function (e) {
    if (e.detail.elt && e.detail.elt.closest && e.detail.elt.closest("details[data-menu]")) { openMenu = null; }
  });

  function dismiss() {
    document.querySelectorAll("[data-confirm-no-show]").forEach(function (el) { el.remove(); });
    openMenu = null;
    document.querySelectorAll("details[data-menu][open]").forEach(function (el) { el.open = false; });
  }

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
    if (closer) { e.preventDefault(); closer.closest("dialog").close(); return; }
    if (e.target.closest("[data-dismiss-toast]")) { e.preventDefault(); dismiss(); }
  });

  // Keyboard shortcuts: a key presses the visible, enabled button that carries data-key.
  // A key inside the toast (the no-show's second press) comes before the same key elsewhere.
  var ALIASES = { " ": "n", "Spacebar": "n", "Escape": "escape", "Esc": "escape" };
  // Shown: laid out, and not inside a closed menu (chromium lays out a closed <details>'s content).
  function shown(el) {
    if (el.offsetParent === null) { return false; }
    var closed = el.closest("details:not([open])");
    var summary = el.closest("summary");
    return !closed || (summary !== null && summary.parentElement === closed);
  }
  function firstVisible(selector) {
    var found = document.querySelectorAll(selector);
    for (var i = 0; i < found.length; i++) {
      if (shown(found[i])) { return found[i]; }
    }
    return null;
  }
  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.altKey || e.metaKey || e.repeat) { return; }
    var active = document.activeElement;
    if (active && (/^(INPUT|SELECT|TEXTAREA)$/.test(active.tagName) || active.isContentEditable)) { return; }
    if (document.querySelector("dialog[open]")) { return; }
    var key = ALIASES[e.key] || (e.key.length === 1 ? e.key.toLowerCase() : "");
    if (!key) { return; }
    var selector = '[data-key="' + key + '"]:not([disabled])';
    var button = firstVisible("#toast " + selector) || firstVisible(selector);
    if (!button) {
      if (key === "escape") { dismiss(); }
      return;
    }
    e.preventDefault();
    button.click();
  });
})();
