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
  //
  // The server decides which calls are still current (tongban/queue/views.py, hall_calls): the
  // banner it sends shows the newest of them, and #announce lists the ids of all of them. This page
  // only chooses which current call to highlight while it is announced; a call that stops being
  // current (finished, no-show, transferred, its window on a break or closed) is dropped from the
  // queue, or cut short if it is being announced, and the banner goes back to the server's.
  var seen = null;      // highest announcement id taken; null until the first state arrives
  var queue = [];
  var current = null;   // the announcement being highlighted / spoken
  var live = {};        // ids of the calls still current, as the server last said
  var serverNow = null; // the server's banner content (a detached copy of [data-b-now])

  function isLive(item) { return Object.prototype.hasOwnProperty.call(live, String(item.id)); }

  function readAnnouncements() {
    var box = document.getElementById("announce");
    if (!box) { return; }
    var list = box.querySelector("ol[data-current]");
    live = {};
    ((list && list.getAttribute("data-current")) || "").split(" ").filter(Boolean).forEach(function (id) {
      live[id] = true;
    });
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
        seen = item.id;
        if (!isLive(item)) { return; }  // already over (a quick no-show, a recall after it…)
        // Load its clips now, while earlier announcements are still being spoken.
        if (voiceOn && item.clips.length) { item.audio = prepare(item.clips); }
        queue.push(item);
      }
    });
    if (current && !isLive(current)) { stop(current); }
    next();
  }

  function fill(template, item) {
    return template.replace("{number}", item.number).replace("{window}", item.window);
  }

  function bannerEl() { return root.querySelector("[data-banner]"); }

  // The server sent a new banner: keep a copy, then put the announced call back over it if needed.
  function bannerSwapped() {
    var banner = bannerEl();
    var now = banner && banner.querySelector("[data-b-now]");
    serverNow = now ? now.cloneNode(true) : null;
    paint();
  }

  // The banner shows the call being announced while it is current, else the server's banner.
  function paint() {
    var banner = bannerEl();
    if (!banner) { markTiles(); return; }
    var item = current && isLive(current) ? current : null;
    var shown = banner.querySelector("[data-b-now]");
    if (item && (!shown || shown.getAttribute("data-id") !== String(item.id))) {
      var node = (serverNow || shown).cloneNode(true);
      var recall = item.kind === "recall";
      node.classList.remove("idle");
      node.setAttribute("data-id", String(item.id));
      node.setAttribute("data-number", item.number);
      node.setAttribute("data-window", item.window);
      node.setAttribute("data-kind", item.kind);
      var kind = node.querySelector("[data-b-kind]");
      var sub = document.createElement("span");
      sub.textContent = banner.getAttribute("data-kind-en") || "";
      kind.textContent = banner.getAttribute("data-kind-zh") || "";
      kind.appendChild(sub);
      node.querySelector("[data-b-zh]").textContent = fill(banner.getAttribute(recall ? "data-recall-zh" : "data-zh") || "", item);
      node.querySelector("[data-b-en]").textContent = fill(banner.getAttribute(recall ? "data-recall-en" : "data-en") || "", item);
      banner.replaceChildren(node);
    } else if (!item && serverNow && (!shown || shown.getAttribute("data-id") !== serverNow.getAttribute("data-id"))) {
      banner.replaceChildren(serverNow.cloneNode(true));
    }
    shown = banner.querySelector("[data-b-now]");
    var number = shown && shown.getAttribute("data-number");
    if (number) {
      banner.setAttribute("data-number", number);
      banner.setAttribute("data-window", shown.getAttribute("data-window"));
    } else {
      banner.removeAttribute("data-number");
      banner.removeAttribute("data-window");
    }
    banner.classList.toggle("idle", !number);
    banner.classList.toggle("flash", !!item);
    banner.classList.toggle("recall", !!item && item.kind === "recall");
    markTiles();
  }

  // Tiles are re-rendered by the server; the highlight is put back after every swap.
  function markTiles() {
    root.querySelectorAll("[data-window].flash").forEach(function (el) {
      if (el.hasAttribute("data-banner")) { return; }
      el.classList.remove("flash");
    });
    if (!current || !isLive(current)) { return; }
    root.querySelectorAll('[data-window="' + current.window + '"]').forEach(function (el) {
      if (!el.hasAttribute("data-banner")) { el.classList.add("flash"); }
    });
  }

  // The call being announced is no longer current: silence it and move on at once.
  function stop(item) {
    item.stopped = true;
    if (item.audio) { item.audio.stopped = true; if (item.audio.playing) { item.audio.playing.pause(); } }
    if (current === item) { current = null; }
    paint();
  }

  function next() {
    if (current) { return; }
    // Each call's turn comes only if it is still current when the turn comes.
    while (queue.length && !isLive(queue[0])) { queue.shift(); }
    if (!queue.length) { return; }
    current = queue.shift();
    var item = current;
    var started = Date.now();
    paint();
    var banner = bannerEl();
    if (banner) { banner.setAttribute("data-shown-at", String(started)); }
    var spoken = !voiceOn || !item.clips.length;
    function done() {
      if (!spoken) { return; }
      setTimeout(function () {
        if (current !== item) { return; }  // stopped: the next one has already started
        current = null;
        paint();
        next();
      }, Math.max(0, HOLD_MS - (Date.now() - started)));
    }
    if (!spoken) {
      item.audio = item.audio || prepare(item.clips);
      play(item.audio, item.clips.length, function () { spoken = true; done(); });
    }
    done();
  }

  // The announcement's clips become a queue of Audio elements, loaded one after another (in order, so
  // the words are ready before they are needed and no gap opens between them), and played one at a
  // time: the next clip starts only when the previous one has ended.
  function prepare(clips) {
    var queued = { audios: [], waiting: null, playing: null, stopped: false };
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
      if (queued.stopped) { queued.playing = null; return; }
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
      queued.playing = audio;
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
    if (e.target && e.target.hasAttribute && e.target.hasAttribute("data-banner")) { bannerSwapped(); }
    if (e.target && e.target.id === "announce") { readAnnouncements(); }
    markTiles();
  });
  document.addEventListener("htmx:afterSettle", markTiles);
  readAnnouncements();
  bannerSwapped();
})();
