// The phone status page (/t/<token>): vibrate and chime when the number is called and when 3 people
// are left (docs/kiosk.md "The phone status page"). Browsers play sound and vibrate only after the
// citizen has touched the page, so nothing happens until the button #s-alerts is tapped once.
//
// The page's state comes from the server as HTML (the live stream or polling swap #s-state); this
// file only watches it: #s-card[data-state], [data-recalls] and #s-box[data-ahead]. What it did is kept
// in attributes on #s-alerts, for people and tests alike:
//   data-alerts   "off" (not asked yet), "on", or "unsupported" (neither sound nor vibration here);
//   data-last     the last alert: "ready" (the tap itself), "three-left" or "called";
//   data-count    how many alerts were given.
(function () {
  "use strict";

  var THREE_LEFT = 3;
  var button = document.getElementById("s-alerts");
  var area = document.getElementById("s-state");
  if (!button || !area) { return; }

  var audio = null;
  var on = false;
  var seen = read();

  function read() {
    var card = document.getElementById("s-card");
    var box = document.getElementById("s-box");
    var ahead = box ? parseInt(box.getAttribute("data-ahead") || "", 10) : NaN;
    return {
      state: card ? card.getAttribute("data-state") : null,
      recalls: card ? card.getAttribute("data-recalls") : null,
      ahead: isNaN(ahead) ? null : ahead
    };
  }

  // A short two-note chime made here with Web Audio: nothing is fetched.
  function chime(notes) {
    if (!audio) { return; }
    if (audio.state === "suspended" && audio.resume) { audio.resume(); }
    var start = audio.currentTime + 0.02;
    notes.forEach(function (freq, i) {
      var osc = audio.createOscillator();
      var gain = audio.createGain();
      var at = start + i * 0.28;
      osc.type = "sine";
      osc.frequency.setValueAtTime(freq, at);
      gain.gain.setValueAtTime(0.0001, at);
      gain.gain.exponentialRampToValueAtTime(0.4, at + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, at + 0.6);
      osc.connect(gain);
      gain.connect(audio.destination);
      osc.start(at);
      osc.stop(at + 0.65);
    });
  }

  function vibrate(pattern) {
    if (navigator.vibrate) {
      try { navigator.vibrate(pattern); } catch (e) { /* not allowed here: the chime still plays */ }
    }
  }

  function alertNow(kind) {
    if (kind === "called") {
      chime([880, 660, 880, 660]);
      vibrate([400, 150, 400, 150, 400]);
    } else if (kind === "three-left") {
      chime([660, 880]);
      vibrate([250, 120, 250]);
    } else {
      chime([880]);
      vibrate(120);
    }
    button.setAttribute("data-last", kind);
    button.setAttribute("data-count", String(parseInt(button.getAttribute("data-count") || "0", 10) + 1));
  }

  function changed() {
    var now = read();
    if (on) {
      var called = now.state === "called" && (seen.state !== "called" || now.recalls !== seen.recalls);
      var nearly = now.state === "waiting" && now.ahead !== null && now.ahead <= THREE_LEFT &&
        (seen.state !== "waiting" || seen.ahead === null || seen.ahead > THREE_LEFT);
      if (called) { alertNow("called"); } else if (nearly) { alertNow("three-left"); }
    }
    seen = now;
  }

  button.addEventListener("click", function () {
    if (on) { return; }
    var Ctx = window.AudioContext || window.webkitAudioContext;
    if (Ctx) {
      try { audio = new Ctx(); } catch (e) { audio = null; }
    }
    if (!audio && !navigator.vibrate) {
      button.setAttribute("data-alerts", "unsupported");
      button.disabled = true;
      return;
    }
    on = true;
    button.setAttribute("data-alerts", "on");
    button.setAttribute("aria-pressed", "true");
    button.disabled = true;
    seen = read();
    alertNow("ready");  // the tap itself: the citizen hears and feels what to listen for
  });

  // Every new state, whether pushed by the stream or polled, replaces #s-state's children.
  new MutationObserver(changed).observe(area, { childList: true, subtree: true });
})();
