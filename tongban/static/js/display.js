// Hall display and window screens: the clock, the "now calling" highlight and the voice.
//
// Every call or recall event the server sends in the hidden #announce list is one announcement.
// Announcements go through one queue: each is highlighted for at least HOLD_MS and its clips
// (Chinese, English, twice: tongban.voice.call_sequence) play one after another on a single Audio
// element at a time, so announcements never overlap and calls arriving together each get their turn.
(function () {
  "use strict";

  var HOLD_MS = 10000;          // a new call stays highlighted at least this long
  var CLIP_TIMEOUT_MS = 8000;   // a clip that neither ends nor fails is skipped after this

  // Swapped-in buttons get their htmx handlers at once, not after the default 20 ms settle: a key
  // pressed right after a live update must not land on a button that does nothing yet.
  if (window.htmx) { window.htmx.config.defaultSettleDelay = 0; }

  var root = document.querySelector(".display");
  if (!root) { return; }
  var voiceOn = root.getAttribute("data-voice") === "on";
  var voiceBase = root.getAttribute("data-voice-base") || "/static/voice/";
  var tz = root.getAttribute("data-tz") || undefined;
  var skew = Date.parse(root.getAttribute("data-server-time")) - Date.now();
  if (isNaN(skew)) { skew = 0; }

  // ---------- clock ----------
  var timeEl = root.querySelector("[data-clock-time]");
  var dateEl = root.querySelector("[data-clock-date]");
  var timeFmt, dateFmt;
  try {
    timeFmt = new Intl.DateTimeFormat("zh-CN", { timeZone: tz, hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
    dateFmt = new Intl.DateTimeFormat("zh-CN", { timeZone: tz, year: "numeric", month: "long", day: "numeric", weekday: "long" });
  } catch (err) {
    timeFmt = new Intl.DateTimeFormat("zh-CN", { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
    dateFmt = new Intl.DateTimeFormat("zh-CN", { year: "numeric", month: "long", day: "numeric", weekday: "long" });
  }
  function clock() {
    var now = new Date(Date.now() + skew);
    if (timeEl) { timeEl.textContent = timeFmt.format(now); }
    if (dateEl) { dateEl.textContent = dateFmt.format(now); }
  }
  clock();
  setInterval(clock, 1000);

  // ---------- announcements ----------
  var seen = null;      // highest announcement id taken; null until the first state arrives
  var queue = [];
  var current = null;   // the announcement being highlighted / spoken

  function readAnnouncements() {
    var box = document.getElementById("announce");
    if (!box) { return; }
    var items = Array.prototype.map.call(box.querySelectorAll("[data-id]"), function (el) {
      var item = {
        id: parseInt(el.getAttribute("data-id"), 10),
        number: el.getAttribute("data-number"),
        window: el.getAttribute("data-window"),
        kind: el.getAttribute("data-kind"),
        clips: []
      };
      // Each clip URL names its announcement and place: browsers would otherwise serve a repeated
      // word from memory, and this way the server's access log shows, clip by clip, what each
      // screen said for which event (for "I never heard my number").
      (el.getAttribute("data-clips") || "").split(" ").filter(Boolean).forEach(function (clip, n) {
        item.clips.push(voiceBase + clip + "?a=" + item.id + "&p=" + n);
      });
      return item;
    }).sort(function (a, b) { return a.id - b.id; });
    if (seen === null) {
      // What was called before this screen connected is history, not news.
      seen = items.length ? items[items.length - 1].id : 0;
      return;
    }
    items.forEach(function (item) {
      if (item.id > seen) {
        // Load its clips now, while earlier announcements are still being spoken.
        if (voiceOn && item.clips.length) { item.audio = prepare(item.clips); }
        queue.push(item);
        seen = item.id;
      }
    });
    next();
  }

  function fill(template, item) {
    return template.replace("{number}", item.number).replace("{window}", item.window);
  }

  function showBanner(item, on) {
    var banner = root.querySelector("[data-banner]");
    if (banner && item) {
      banner.classList.remove("idle");
      var zh = banner.getAttribute(item.kind === "recall" ? "data-recall-zh" : "data-zh") || "";
      var en = banner.getAttribute(item.kind === "recall" ? "data-recall-en" : "data-en") || "";
      banner.querySelector("[data-b-zh]").textContent = fill(zh, item);
      banner.querySelector("[data-b-en]").textContent = fill(en, item);
      banner.setAttribute("data-number", item.number);
      banner.setAttribute("data-window", item.window);
      banner.classList.toggle("flash", on);
      banner.classList.toggle("recall", on && item.kind === "recall");
    }
    markTiles();
  }

  // Tiles are re-rendered by the server; the highlight is put back after every swap.
  function markTiles() {
    root.querySelectorAll("[data-window].flash").forEach(function (el) {
      if (el.hasAttribute("data-banner")) { return; }
      el.classList.remove("flash");
    });
    if (!current) { return; }
    root.querySelectorAll('[data-window="' + current.window + '"]').forEach(function (el) {
      if (!el.hasAttribute("data-banner")) { el.classList.add("flash"); }
    });
  }

  function next() {
    if (current || !queue.length) { return; }
    current = queue.shift();
    var item = current;
    var started = Date.now();
    showBanner(item, true);
    var banner = root.querySelector("[data-banner]");
    if (banner) { banner.setAttribute("data-shown-at", String(started)); }
    var spoken = !voiceOn || !item.clips.length;
    function done() {
      if (!spoken) { return; }
      setTimeout(function () {
        current = null;
        showBanner(item, queue.length > 0);
        next();
      }, Math.max(0, HOLD_MS - (Date.now() - started)));
    }
    if (!spoken) {
      play(item.audio || prepare(item.clips), item.clips.length, function () { spoken = true; done(); });
    }
    done();
  }

  // The announcement's clips become a queue of Audio elements, loaded one after another (in order, so
  // the words are ready before they are needed and no gap opens between them), and played one at a
  // time: the next clip starts only when the previous one has ended.
  function prepare(clips) {
    var queued = { audios: [], waiting: null };
    var i = 0;
    function loadNext() {
      if (i >= clips.length) { return; }
      var audio = new Audio();
      audio.preload = "auto";
      var moved = false;
      function go() {
        if (moved) { return; }
        moved = true;
        loadNext();
      }
      audio.addEventListener("loadedmetadata", go);
      audio.addEventListener("canplaythrough", go);
      audio.addEventListener("error", go);
      setTimeout(go, 1500);
      audio.src = clips[i++];
      queued.audios.push(audio);
      if (queued.waiting) { var w = queued.waiting; queued.waiting = null; w(); }
    }
    loadNext();
    return queued;
  }

  function play(queued, count, finished) {
    var k = 0;
    function step() {
      if (k >= count) { finished(); return; }
      if (k >= queued.audios.length) { queued.waiting = step; return; }
      var audio = queued.audios[k++];
      var moved = false;
      var guard = setTimeout(advance, CLIP_TIMEOUT_MS);
      function advance() {
        if (moved) { return; }
        moved = true;
        clearTimeout(guard);
        step();
      }
      audio.addEventListener("ended", advance);
      audio.addEventListener("error", advance);
      if (audio.error) { advance(); return; }
      var playing = audio.play();
      if (playing && playing.catch) {
        playing.catch(function (err) {
          if (err && err.name === "NotAllowedError") { gate(); }
          advance();
        });
      }
    }
    step();
  }

  // Browsers refuse sound until someone touches the page, unless the kiosk browser is started
  // with --autoplay-policy=no-user-gesture-required; then one tap enables it.
  function gate() {
    var button = root.querySelector("[data-sound-gate]");
    if (button) { button.hidden = false; }
  }
  root.addEventListener("click", function (e) {
    var button = e.target.closest("[data-sound-gate]");
    if (button) {
      button.hidden = true;
      var probe = new Audio();
      probe.play().catch(function () {});
    }
  });

  document.addEventListener("htmx:sseMessage", function (e) {
    if (e.target && e.target.id === "announce") { readAnnouncements(); }
    markTiles();
  });
  document.addEventListener("htmx:afterSettle", markTiles);
  readAnnouncements();
})();
