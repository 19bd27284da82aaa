// Shared behaviour: show a "reconnecting" banner instead of a browser error page when the server
// restarts or the network drops; the SSE extension and htmx retry by themselves.
(function () {
  "use strict";
  function banner(show) {
    var el = document.getElementById("offline-banner");
    if (el) { el.hidden = !show; }
  }
  document.addEventListener("htmx:sseError", function () { banner(true); });
  document.addEventListener("htmx:sseOpen", function () { banner(false); });
  document.addEventListener("htmx:sendError", function () { banner(true); });
  document.addEventListener("htmx:afterRequest", function (e) {
    if (e.detail && e.detail.successful) { banner(false); }
  });
})();
