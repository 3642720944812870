// form.js: the new-request form checks itself against the policy as the
// user types (debounced) and on "Check with policy", through
// POST /requests/new/check.json, which records nothing. Each field's
// problem shows next to it (aria-invalid, aria-describedby) once the user
// has touched the field; the verdict box shows after the button. Every
// text comes from the server, in the page's language. Without this script
// the button posts the form to /requests/new/check and the server renders
// the same verdict.
(function () {
  'use strict';
  var form = document.getElementById('new-request');
  if (!form || !form.dataset.check || !window.fetch) { return; }
  var FIELDS = ['account_id', 'region_id', 'db_instance_id', 'connection_string', 'network_type', 'justification', 'ticket'];
  var touched = {};
  var timer = null;
  var pending = null;
  var checkButton = document.getElementById('check');
  var verdictBox = document.getElementById('verdict');

  function describedBy(name, withError) {
    var ids = [];
    if (document.getElementById(name + '-hint')) { ids.push(name + '-hint'); }
    if (withError) { ids.push(name + '-error'); }
    return ids.join(' ');
  }

  function setProblem(name, message) {
    var el = document.getElementById(name);
    if (!el) { return; }
    var span = document.getElementById(name + '-error');
    if (message) {
      if (!span) {
        span = document.createElement('span');
        span.className = 'field-error';
        span.id = name + '-error';
        (el.closest('.field') || el.parentNode).appendChild(span);
      }
      span.textContent = message;
      el.setAttribute('aria-invalid', 'true');
    } else {
      if (span) { span.remove(); }
      el.removeAttribute('aria-invalid');
    }
    var ids = describedBy(name, !!message);
    if (ids) { el.setAttribute('aria-describedby', ids); } else { el.removeAttribute('aria-describedby'); }
  }

  function showVerdict(v) {
    verdictBox.textContent = '';
    verdictBox.className = 'verdict ' + (v.ready ? 'verdict-ok' : 'verdict-bad');
    var p = document.createElement('p');
    p.id = 'verdict-headline';
    p.textContent = v.headline;
    verdictBox.appendChild(p);
    if (v.other_reasons && v.other_reasons.length) {
      var ul = document.createElement('ul');
      ul.className = 'reasons';
      ul.id = 'verdict-reasons';
      v.other_reasons.forEach(function (r) {
        var li = document.createElement('li');
        li.textContent = r;
        ul.appendChild(li);
      });
      verdictBox.appendChild(ul);
    }
    verdictBox.hidden = false;
  }

  function apply(v, verdictWanted) {
    var byField = {};
    (v.fields || []).forEach(function (f) { if (!(f.field in byField)) { byField[f.field] = f.message; } });
    FIELDS.forEach(function (name) { setProblem(name, touched[name] ? byField[name] : ''); });
    if (verdictWanted || !verdictBox.hidden) { showVerdict(v); }
  }

  // check asks the server; a failure of the button's check falls back to
  // the form post, which answers with the same verdict as a page.
  function check(verdictWanted) {
    if (pending) { pending.abort(); }
    var ctl = new AbortController();
    pending = ctl;
    var csrf = form.querySelector('input[name=_csrf]');
    return fetch(form.dataset.check, {
      method: 'POST', signal: ctl.signal, credentials: 'same-origin',
      headers: {'Accept': 'application/json', 'X-CSRF-Token': csrf ? csrf.value : ''},
      body: new URLSearchParams(new FormData(form))
    }).then(function (resp) {
      if (!resp.ok) { throw new Error('check answered ' + resp.status); }
      return resp.json();
    }).then(function (v) {
      if (pending === ctl) { pending = null; }
      apply(v, verdictWanted);
    }).catch(function (err) {
      if (err && err.name === 'AbortError') { return; }
      if (verdictWanted && checkButton) { form.requestSubmit(checkButton); }
    });
  }

  function onEdit(e) {
    var name = e.target && e.target.name;
    if (FIELDS.indexOf(name) < 0 && name !== 'break_glass') { return; }
    touched[name] = true;
    clearTimeout(timer);
    timer = setTimeout(function () { check(false); }, 500);
  }
  form.addEventListener('input', onEdit);
  form.addEventListener('change', onEdit);

  // Fields the server already marked count as touched: their problems
  // stay up to date as they are corrected.
  FIELDS.forEach(function (name) {
    if (document.getElementById(name + '-error')) { touched[name] = true; }
  });

  if (checkButton) {
    checkButton.addEventListener('click', function (e) {
      e.preventDefault();
      clearTimeout(timer);
      FIELDS.forEach(function (name) { touched[name] = true; });
      check(true);
    });
  }
})();
