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

// rdsgate: live status of a request's page. Without JavaScript the page has
// a Refresh link and everything else works; with it, the status badge, the
// summary and the timeline update while the release is in progress.
(function () {
  'use strict';
  var live = document.getElementById('live');
  var badge = document.getElementById('status');
  if (!live || !badge || !window.fetch) { return; }
  var statusURL = live.getAttribute('data-status-url');
  var activityURL = live.getAttribute('data-activity-url');
  // Poll fast while the release is queued or running, slowly while the
  // request waits for approvers, never once it is final.
  var fast = { approved: true, executing: true };
  var slow = { pending: true };

  function setText(id, text) {
    var el = document.getElementById(id);
    if (el) { el.textContent = text; }
  }

  function refreshActivity() {
    return fetch(activityURL, { credentials: 'same-origin' }).then(function (r) {
      if (!r.ok) { throw new Error('activity ' + r.status); }
      return r.text();
    }).then(function (html) {
      var box = document.getElementById('activity');
      // Server-rendered, escaped HTML from our own origin.
      if (box) { box.innerHTML = html; window.rdsgateLocalTimes(box); }
    });
  }

  function schedule(status) {
    var delay = fast[status] ? 2000 : (slow[status] ? 10000 : 0);
    if (delay) { window.setTimeout(tick, delay); }
  }

  function tick() {
    fetch(statusURL, { credentials: 'same-origin', headers: { 'Accept': 'application/json' } }).then(function (r) {
      if (!r.ok) { throw new Error('status ' + r.status); }
      return r.json();
    }).then(function (st) {
      var changed = st.status !== badge.getAttribute('data-status');
      var done = Promise.resolve();
      if (changed) {
        badge.setAttribute('data-status', st.status);
        badge.className = 'badge status-' + st.status;
        badge.textContent = st.label;
        setText('headline', st.headline);
        setText('next', st.next);
        var summary = document.getElementById('summary');
        if (summary) { summary.className = 'card summary summary-' + st.status; }
        var vote = document.getElementById('vote');
        if (vote && st.status !== 'pending') { vote.remove(); }
        done = refreshActivity();
      } else if (fast[st.status]) {
        done = refreshActivity();
      }
      return done.then(function () { schedule(st.status); });
    }).catch(function () {
      window.setTimeout(tick, 10000);
    });
  }

  schedule(badge.getAttribute('data-status'));
}());
