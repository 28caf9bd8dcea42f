// The WebSocketPool dashboard: polls <base>/data and draws it. No framework, no external script; charts are SVG drawn
// here. Every user name is written as text (textContent), never as markup.
(function () {
  'use strict';

  var SVG = 'http://www.w3.org/2000/svg';
  var PALETTE = ['#7c3aed', '#db2777', '#ea580c', '#ca8a04', '#0891b2', '#4f46e5', '#be123c', '#65a30d', '#475569'];
  var body = document.body;
  var base = body.getAttribute('data-base') || '';
  var refresh = Math.max(250, parseInt(body.getAttribute('data-refresh'), 10) || 2000);
  var latest = null;
  var kickInFlight = false;

  function byId(id) { return document.getElementById(id); }

  function text(id, value) { byId(id).textContent = String(value); }

  function svg(name, attributes, parent) {
    var element = document.createElementNS(SVG, name);
    Object.keys(attributes).forEach(function (key) { element.setAttribute(key, String(attributes[key])); });
    if (parent) { parent.appendChild(element); }
    return element;
  }

  function clear(element) { while (element.firstChild) { element.removeChild(element.firstChild); } }

  function niceMax(value) {
    if (value <= 5) { return 5; }
    var power = Math.pow(10, Math.floor(Math.log10(value)));
    var steps = [1, 2, 2.5, 5, 10];
    for (var i = 0; i < steps.length; i++) { if (steps[i] * power >= value) { return steps[i] * power; } }
    return 10 * power;
  }

  // x for a time: the chart spans the history window, ending now.
  function scaleX(data, left, width) {
    var start = data.now - data.history;
    return function (t) { return left + Math.max(0, Math.min(1, (t - start) / data.history)) * width; };
  }

  function timeAxis(chart, data, left, width, bottom) {
    var x = scaleX(data, left, width);
    var minutes = Math.round(data.history / 60000);
    for (var i = 0; i <= 3; i++) {
      var t = data.now - data.history + (data.history * i) / 3;
      var label = i === 3 ? 'now' : '-' + Math.round(minutes - (minutes * i) / 3) + ' min';
      svg('line', { 'class': 'grid', x1: x(t), x2: x(t), y1: 8, y2: bottom }, chart);
      svg('text', { 'class': 'axis', x: x(t), y: bottom + 14, 'text-anchor': i === 0 ? 'start' : (i === 3 ? 'end' : 'middle') }, chart).textContent = label;
    }
  }

  function drawLines(data) {
    var chart = byId('chart');
    clear(chart);
    var left = 40, width = 750, top = 10, bottom = 190;
    var max = 1;
    data.samples.forEach(function (s) { max = Math.max(max, s.connections, s.users); });
    max = niceMax(max);
    var x = scaleX(data, left, width);
    var y = function (v) { return bottom - (v / max) * (bottom - top); };
    [0, max / 2, max].forEach(function (v) {
      svg('line', { 'class': 'grid', x1: left, x2: left + width, y1: y(v), y2: y(v) }, chart);
      svg('text', { 'class': 'axis', x: left - 6, y: y(v) + 4, 'text-anchor': 'end' }, chart).textContent = String(v);
    });
    timeAxis(chart, data, left, width, bottom);
    ['connections', 'users'].forEach(function (series) {
      var points = data.samples.map(function (s) { return x(s.time).toFixed(1) + ',' + y(s[series]).toFixed(1); }).join(' ');
      svg('polyline', { 'class': 'series ' + series, points: points }, chart);
    });
    var last = data.samples[data.samples.length - 1];
    chart.setAttribute('data-connections', last ? last.connections : 0);
    chart.setAttribute('data-users', last ? last.users : 0);
    chart.setAttribute('data-samples', data.samples.length);
  }

  function drawRefusals(data) {
    var chart = byId('refusals');
    clear(chart);
    var left = 40, width = 750, top = 6, bottom = 90;
    var bars = [];
    var max = 1;
    for (var i = 1; i < data.samples.length; i++) {
      var previous = data.samples[i - 1], current = data.samples[i];
      var deltas = current.rejected.map(function (v, r) { return Math.max(0, v - previous.rejected[r]); });
      var total = deltas.reduce(function (a, b) { return a + b; }, 0);
      max = Math.max(max, total);
      bars.push({ from: previous.time, to: current.time, deltas: deltas, total: total });
    }
    max = niceMax(max);
    var x = scaleX(data, left, width);
    var y = function (v) { return bottom - (v / max) * (bottom - top); };
    svg('line', { 'class': 'grid', x1: left, x2: left + width, y1: bottom, y2: bottom }, chart);
    svg('text', { 'class': 'axis', x: left - 6, y: y(max) + 4, 'text-anchor': 'end' }, chart).textContent = String(max);
    svg('text', { 'class': 'axis', x: left - 6, y: bottom + 4, 'text-anchor': 'end' }, chart).textContent = '0';
    var drawn = 0;
    bars.forEach(function (bar) {
      var x0 = x(bar.from), barWidth = Math.max(1, x(bar.to) - x0 - 1), level = 0;
      bar.deltas.forEach(function (count, r) {
        if (count === 0) { return; }
        var rect = svg('rect', { x: x0.toFixed(1), y: y(level + count).toFixed(1), width: barWidth.toFixed(1), height: (y(level) - y(level + count)).toFixed(1), fill: PALETTE[r % PALETTE.length] }, chart);
        svg('title', {}, rect).textContent = data.reasons[r] + ': ' + count;
        level += count;
        drawn += count;
      });
    });
    chart.setAttribute('data-refusals', drawn);
  }

  function drawLegend(data) {
    var legend = byId('legend');
    if (legend.childNodes.length) { return; }
    var items = [['open connections', 'var(--connections)', true], ['users', 'var(--users)', true]];
    data.reasons.forEach(function (reason, r) { items.push(['refused: ' + reason, PALETTE[r % PALETTE.length], false]); });
    items.forEach(function (item) {
      var li = document.createElement('li');
      var swatch = svg('svg', { width: 10, height: 10, 'class': 'swatch' });
      svg('rect', { width: 10, height: 10, rx: 2, fill: item[2] ? (item[0] === 'users' ? '#0f9d76' : '#2563eb') : item[1] }, swatch);
      li.appendChild(swatch);
      li.appendChild(document.createTextNode(item[0]));
      legend.appendChild(li);
    });
  }

  function drawUsers(data) {
    var tbody = byId('top-users').tBodies[0];
    clear(tbody);
    body.classList.toggle('can-kick', !!data.kick);
    var users = data.users.slice().sort(function (a, b) { return b.connections / b.limit - a.connections / a.limit; });
    users.forEach(function (u) {
      var row = tbody.insertRow();
      row.setAttribute('data-user', u.user);
      row.insertCell().textContent = u.user;
      var count = row.insertCell(); count.className = 'number'; count.textContent = String(u.connections);
      var limit = row.insertCell(); limit.className = 'number'; limit.textContent = String(u.limit);
      var action = row.insertCell(); action.className = 'kick-column';
      if (data.kick) {
        var button = document.createElement('button');
        button.type = 'button';
        button.className = 'kick';
        button.textContent = 'Kick';
        button.setAttribute('aria-label', 'Kick ' + u.user);
        button.disabled = kickInFlight;
        button.addEventListener('click', function () { kick(u.user); });
        action.appendChild(button);
      }
    });
    byId('no-users').hidden = users.length > 0;
  }

  function drawRejected(data) {
    var tbody = byId('rejected').tBodies[0];
    clear(tbody);
    var total = 0;
    data.reasons.forEach(function (reason) {
      if (!(reason in data.rejected)) { return; }
      var row = tbody.insertRow();
      row.setAttribute('data-reason', reason);
      row.insertCell().textContent = reason;
      var count = row.insertCell(); count.className = 'number'; count.textContent = String(data.rejected[reason]);
      total += data.rejected[reason];
    });
    text('rejected-total', total);
  }

  function render(data) {
    latest = data;
    text('connections', data.activeConnections);
    text('capacity', 'of ' + data.maxConnections + (data.draining ? ' · draining' : ''));
    text('users', data.userCount);
    text('evicted', data.evicted);
    text('window', Math.round(data.history / 60000));
    var health = byId('health');
    health.setAttribute('data-status', data.health.status);
    health.title = data.health.description || '';
    text('health-status', data.health.status);
    drawLines(data);
    drawRefusals(data);
    drawLegend(data);
    drawUsers(data);
    drawRejected(data);
    text('updated', 'Updated ' + new Date(data.now).toLocaleTimeString());
  }

  function poll() {
    fetch(base + '/data', { credentials: 'same-origin', cache: 'no-store' })
      .then(function (response) {
        if (!response.ok) { throw new Error('The dashboard data answered ' + response.status + '.'); }
        return response.json();
      })
      .then(function (data) { text('error', ''); render(data); })
      .catch(function (error) { text('error', error.message); })
      .then(function () { setTimeout(poll, refresh); });
  }

  function kick(user) {
    if (!latest || !latest.kick || kickInFlight) { return; }
    kickInFlight = true;
    var headers = { 'Content-Type': 'application/x-www-form-urlencoded' };
    headers[latest.kick.headerName] = latest.kick.token;
    fetch(base + '/kick', { method: 'POST', credentials: 'same-origin', headers: headers, body: new URLSearchParams({ user: user }).toString() })
      .then(function (response) {
        return response.json().then(function (answer) {
          if (!response.ok) { throw new Error(answer.detail || ('The kick answered ' + response.status + '.')); }
          return answer;
        });
      })
      .then(function (answer) {
        var status = byId('kick-status');
        status.setAttribute('data-kicked', answer.user);
        status.textContent = 'Kicked ' + answer.user + ': ' + answer.closed + ' connection' + (answer.closed === 1 ? '' : 's') + ' on this node closed with ' + answer.closeCode + '.';
      })
      .catch(function (error) { text('kick-status', error.message); })
      .then(function () { kickInFlight = false; });
  }

  poll();
})();
