// rdsgate: times in the viewer's own time zone. The server writes UTC
// (<time class="local" datetime="…" title="… UTC">); here the text becomes
// local time in the page's language, and the title keeps UTC for hover.
(function () {
  'use strict';
  function localise(root) {
    var lang = document.documentElement.lang || 'en';
    var fmt;
    try {
      fmt = new Intl.DateTimeFormat(lang, { year: 'numeric', month: '2-digit', day: '2-digit',
        hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false, timeZoneName: 'short' });
    } catch (e) { return; }
    var els = (root || document).querySelectorAll('time.local[datetime]');
    for (var i = 0; i < els.length; i++) {
      var d = new Date(els[i].getAttribute('datetime'));
      if (!isNaN(d.getTime())) { els[i].textContent = fmt.format(d); }
    }
  }
  window.rdsgateLocalTimes = localise;
  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', function () { localise(); });
  } else { localise(); }
}());

// rdsgate: a request's page follows the request by itself. Without
// JavaScript the page has a Refresh link and every form works; with it,
// status.json is asked every 2 s while the request is not final, and when
// its version (status, votes, attempts) changes, the whole changeable part
// of the page (#live: summary, approvals, the review and cancel forms, the
// timeline, the attempts) is fetched again, server-rendered, and swapped in,
// so no part of it can fall behind another. Polling stops once it is final.
(function () {
  'use strict';
  document.documentElement.classList.add('js');
  var live = document.getElementById('live');
  if (!live || !window.fetch || !window.DOMParser) { return; }
  var statusURL = live.getAttribute('data-status-url');
  var liveURL = live.getAttribute('data-live-url');
  var every = 2000; // the page follows the request within 2 s
  var retry = 5000; // after a failed poll (network, server restarting)

  function root() { return live.querySelector('.live-root'); }
  function version() { var r = root(); return r ? r.getAttribute('data-version') : ''; }
  function isFinal() { var r = root(); return !!r && r.getAttribute('data-final') === 'true'; }

  // What the viewer typed into the page's forms survives a swap: the
  // comment of a vote, the reason of a cancel, and the focus.
  function keepInput(next) {
    var fields = live.querySelectorAll('textarea[id], input[id]:not([type=hidden])');
    for (var i = 0; i < fields.length; i++) {
      var old = fields[i];
      var nu = next.querySelector('#' + old.id);
      if (nu && old.value !== '') { nu.value = old.value; }
    }
    var a = document.activeElement;
    if (!a || !a.id || !live.contains(a)) { return null; }
    var sel = null;
    try { sel = [a.selectionStart, a.selectionEnd]; } catch (e) { /* not a text field */ }
    return { id: a.id, sel: sel };
  }

  function swap(html) {
    var doc = new DOMParser().parseFromString('<div>' + html + '</div>', 'text/html');
    var next = doc.body.firstElementChild;
    if (!next || !next.querySelector('.live-root')) { throw new Error('not a live fragment'); }
    var focused = keepInput(next);
    // Server-rendered, escaped HTML from our own origin.
    live.replaceChildren.apply(live, Array.prototype.slice.call(next.childNodes));
    var el = focused && document.getElementById(focused.id);
    if (el) {
      el.focus();
      if (focused.sel && el.setSelectionRange) { el.setSelectionRange(focused.sel[0], focused.sel[1]); }
    }
    window.rdsgateLocalTimes(live);
  }

  function refresh() {
    return fetch(liveURL, { credentials: 'same-origin', cache: 'no-store' }).then(function (r) {
      if (!r.ok) { throw new Error('live ' + r.status); }
      return r.text();
    }).then(swap);
  }

  // One timer at a time; a hidden tab asks every 10 s and at once when it
  // is shown again.
  var timer = 0;
  function schedule(ms) {
    window.clearTimeout(timer);
    timer = isFinal() ? 0 : window.setTimeout(tick, document.hidden ? Math.max(ms, 10000) : ms);
  }
  document.addEventListener('visibilitychange', function () {
    if (!document.hidden && timer > 0) { schedule(0); }
  });

  function tick() {
    timer = -1; // a poll is under way: visibilitychange leaves it alone
    fetch(statusURL, { credentials: 'same-origin', cache: 'no-store', headers: { 'Accept': 'application/json' } }).then(function (r) {
      if (!r.ok) { throw new Error('status ' + r.status); }
      return r.json();
    }).then(function (st) {
      return st.version !== version() ? refresh() : null;
    }).then(function () {
      schedule(every);
    }).catch(function () {
      schedule(retry);
    });
  }

  schedule(every);
}());

// rdsgate: the "Public endpoints" page. A scan takes a while: the form
// says it is under way. "Select all" (shown only with JavaScript; without
// it every endpoint stays checked as the server rendered it) checks or
// clears every endpoint, and follows the single checkboxes.
(function () {
  'use strict';
  var scan = document.getElementById('fleet-scan');
  if (scan) {
    scan.addEventListener('submit', function () {
      var note = document.getElementById('scanning');
      var button = document.getElementById('scan');
      if (note) { note.hidden = false; }
      if (button) { button.setAttribute('aria-disabled', 'true'); }
    });
  }
  var all = document.getElementById('select-all');
  var form = document.getElementById('bulk-form');
  if (!all || !form) { return; }
  var boxes = form.querySelectorAll('input.target-check');
  var count = document.getElementById('selected-count');
  var label = count ? count.getAttribute('data-label') : '';
  function update() {
    var n = 0;
    for (var i = 0; i < boxes.length; i++) { if (boxes[i].checked) { n++; } }
    all.checked = n === boxes.length;
    all.indeterminate = n > 0 && n < boxes.length;
    if (count) { count.textContent = '(' + n + ' / ' + boxes.length + ' ' + label + ')'; }
  }
  all.addEventListener('change', function () {
    for (var i = 0; i < boxes.length; i++) { boxes[i].checked = all.checked; }
    update();
  });
  form.addEventListener('change', function (e) {
    if (e.target && e.target.classList && e.target.classList.contains('target-check')) { update(); }
  });
  document.getElementById('select-all-label').hidden = false;
  update();
}());
