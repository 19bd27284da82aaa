// Kiosk behaviour (docs/kiosk.md). The screens are server-rendered htmx fragments; this file only adds
// what a public touchscreen needs on top:
//  - idle timeout: after data-idle-s seconds without a touch, go back to the home screen
//    (in Chinese, normal text) — 0 means "stay until touched" (the on-screen ticket);
//  - never a blank screen or a browser error page: a request that fails because the server restarts
//    or the network drops shows "please wait" over the last screen and is sent again until it works
//    (taking a ticket is safe to resend: the form's key makes the server answer with the same ticket);
//  - a header clock that keeps the hall's time.
(function () {
  "use strict";

  var idleTimer = null;
  var retryTimer = null;
  var retries = 0;
  var sseDown = false;
  var requestDown = false;

  function app() { return document.getElementById("kiosk"); }

  // ---------- please wait ----------
  function showWait() {
    var wait = document.getElementById("kiosk-wait");
    if (wait) { wait.hidden = !(sseDown || requestDown); }
  }

  // ---------- idle ----------
  function armIdle() {
    if (idleTimer) { clearTimeout(idleTimer); idleTimer = null; }
    var el = app();
    if (!el) { return; }
    var seconds = parseInt(el.getAttribute("data-idle-s") || "0", 10);
    if (seconds > 0) { idleTimer = setTimeout(goHome, seconds * 1000); }
  }

  function goHome() {
    var el = app();
    if (!el || typeof htmx === "undefined") { return; }
    htmx.ajax("GET", el.getAttribute("data-home-url"), { source: el, target: "#kiosk", swap: "outerHTML" });
  }

  ["pointerdown", "touchstart", "keydown"].forEach(function (name) {
    document.addEventListener(name, armIdle, { passive: true, capture: true });
  });

  // ---------- retry on a lost server ----------
  function retryLater(detail) {
    requestDown = true;
    showWait();
    // One retry at a time: the newest failure (what the citizen did last) replaces an older one.
    if (retryTimer) { clearTimeout(retryTimer); retryTimer = null; }
    retries += 1;
    var delay = Math.min(500 * retries, 4000);
    var verb = (detail.requestConfig && detail.requestConfig.verb || "get").toUpperCase();
    var path = detail.requestConfig && detail.requestConfig.path;
    var source = detail.elt;
    retryTimer = setTimeout(function () {
      retryTimer = null;
      if (path && source && document.body.contains(source)) {
        htmx.ajax(verb, path, { source: source });
      } else {
        goHome();
      }
    }, delay);
  }

  document.addEventListener("htmx:sendError", function (e) { retryLater(e.detail); });
  document.addEventListener("htmx:responseError", function (e) {
    var status = e.detail && e.detail.xhr ? e.detail.xhr.status : 0;
    if (status === 0 || status >= 500) { retryLater(e.detail); }
  });
  document.addEventListener("htmx:afterRequest", function (e) {
    if (e.detail && e.detail.successful) {
      retries = 0;
      requestDown = false;
      showWait();
    }
  });
  document.addEventListener("htmx:sseError", function () {
    // A moment's gap is normal (the stream reconnects by itself); only say so if it lasts.
    setTimeout(function () {
      var live = document.querySelector("[sse-connect]");
      if (live && !live.getAttribute("data-sse-open")) { sseDown = true; showWait(); }
    }, 1500);
    var live = document.querySelector("[sse-connect]");
    if (live) { live.removeAttribute("data-sse-open"); }
  });
  document.addEventListener("htmx:sseOpen", function (e) {
    if (e.target && e.target.setAttribute) { e.target.setAttribute("data-sse-open", "1"); }
    sseDown = false;
    showWait();
  });
  document.addEventListener("htmx:sseClose", function () { sseDown = false; showWait(); });

  // A new screen: restart the idle timer and the clock from the server's time. The help bar's poll
  // (docs/kiosk.md "Asking for help") is no touch: it must not keep the screen from going home.
  function isHelpBar(el) { return !!(el && el.id === "k-help"); }
  document.addEventListener("htmx:afterSettle", function (e) {
    if (isHelpBar(e.target) || isHelpBar(e.detail && e.detail.elt)) { return; }
    armIdle();
    syncClock();
  });

  // ---------- clock ----------
  var clockOffsetMs = 0;   // server time minus this machine's time
  var tzOffsetMin = 480;   // the hall's UTC offset
  function syncClock() {
    var el = app();
    if (!el) { return; }
    var now = Date.parse(el.getAttribute("data-now") || "");
    if (!isNaN(now)) { clockOffsetMs = now - Date.now(); }
    var tz = parseInt(el.getAttribute("data-tz-offset") || "480", 10);
    if (!isNaN(tz)) { tzOffsetMin = tz; }
  }
  function tick() {
    var clock = document.getElementById("k-clock");
    if (!clock) { return; }
    var hall = new Date(Date.now() + clockOffsetMs + tzOffsetMin * 60000);
    var hh = String(hall.getUTCHours()).padStart(2, "0");
    var mm = String(hall.getUTCMinutes()).padStart(2, "0");
    clock.textContent = hh + ":" + mm;
  }

  // No long-press menus or text selection on a public touchscreen.
  document.addEventListener("contextmenu", function (e) { e.preventDefault(); });

  function start() {
    syncClock();
    armIdle();
    setInterval(tick, 5000);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
