/*
 * WebSocketPool chat sample: the browser client.
 *
 * Plain script, no build step, no dependencies. User-provided text (names, messages, server
 * reasons) only ever reaches the DOM through textContent, dataset or property setters; nothing
 * is parsed as HTML.
 *
 * How the page finds out where it stands: the auth cookie is HttpOnly, and a browser hides the
 * HTTP status of a refused WebSocket handshake (script only sees close code 1006). So every
 * (re)connect starts with the "admission preview", a plain `GET /ws` without upgrade, which
 * answers with the decision an upgrade would get right now:
 *   200 {user, connections, limit}  admitted        -> open the WebSocket
 *   401                             not signed in   -> login form
 *   403                             origin refused  -> notice, manual retry only
 *   429 (+ limit/current)           too many tabs   -> notice, slow retry + button
 *   429 (no limit/current)          connect rate    -> retry after Retry-After
 *   503                             busy / draining -> retry after Retry-After
 *
 * Presence: the first presence message on a connection is the full list ({type:"presence"});
 * after it come only changes ({type:"presence_delta"}, same item shape, connections 0 = left),
 * applied to the list kept in `people`. A later full list (a cluster re-sends it) replaces it.
 *
 * Sign-in and sign-out are form posts that carry an antiforgery token, fetched from
 * GET /antiforgery just before each post (it is bound to whoever is signed in at the time).
 */
'use strict';

(() => {
  // ------------------------------------------------------------------------------------------
  // Constants
  // ------------------------------------------------------------------------------------------

  const WS_PATH = '/ws';
  const NAME_MAX = 32;
  // The server's rule: letters, digits, "_", "-", ".". Unicode classes rather than ASCII so the
  // client never refuses a name the server would accept; if the server is stricter, its 400
  // detail is shown instead. Length is counted in UTF-16 units, like .NET's string.Length.
  const NAME_RULE = /^[\p{L}\p{Nd}_.-]+$/u;
  const MAX_TEXT = 2000;
  const MAX_MESSAGES = 500;         // older messages are dropped from the DOM
  const BACKOFF_BASE_MS = 500;      // reconnect backoff: 0.5 s doubling …
  const BACKOFF_CAP_MS = 30_000;    // … up to 30 s, with full jitter
  const TOO_MANY_BASE_MS = 10_000;  // 429 "too many tabs": only closing a tab helps, so retry slowly
  const TOO_MANY_CAP_MS = 60_000;
  const STABLE_AFTER_MS = 5_000;    // a connection that stays up this long resets the backoff
  const OPEN_TIMEOUT_MS = 15_000;   // give up on a handshake that hangs

  const CLOSE_NORMAL = 1000;
  const CLOSE_POLICY = 1008;
  const CLOSE_TOO_BIG = 1009;
  const CLOSE_EVICTED = 4001;
  const CLOSE_KICKED = 4003;
  const CLOSE_AUTH_EXPIRED = 4005;

  const STATUS_TEXT = {
    connecting: 'Connecting…',
    open: 'Connected',
    reconnecting: 'Reconnecting…',
    refused: 'Refused by server',
    evicted: 'Opened elsewhere',
    kicked: 'Signed out by server',
    expired: 'Sign-in expired',
    closed: 'Disconnected',
  };

  // ------------------------------------------------------------------------------------------
  // Elements and state
  // ------------------------------------------------------------------------------------------

  const byId = (id) => document.getElementById(id);
  const els = {
    status: byId('status'),
    notice: byId('notice'),
    banner: byId('banner'),
    bannerAction: byId('banner-action'),
    login: byId('login'),
    loginForm: byId('login-form'),
    loginName: byId('login-name'),
    loginSubmit: byId('login-submit'),
    loginError: byId('login-error'),
    chat: byId('chat'),
    me: byId('me'),
    myConnections: byId('my-connections'),
    logout: byId('logout'),
    messages: byId('messages'),
    chatForm: byId('chat-form'),
    chatText: byId('chat-text'),
    chatSend: byId('chat-send'),
    dmForm: byId('dm-form'),
    dmTo: byId('dm-to'),
    dmText: byId('dm-text'),
    dmSend: byId('dm-send'),
    dmError: byId('dm-error'),
    dmUsers: byId('dm-users'),
    presence: byId('presence'),
  };

  /** Everything the page knows; window.chatState exposes a read-only view of it. */
  const model = {
    state: 'connecting',
    reconnects: 0,      // reconnect attempts so far (timer-driven or by button)
    lastClose: null,    // {code, reason} of the last WebSocket close
    user: null,
    connectionId: null,
    connections: null,  // this user's open connections (hello, then presence)
    limit: null,        // per-user connection limit (hello / preview)
  };

  let socket = null;        // the current WebSocket; events from older sockets are ignored
  let epoch = 0;            // bumped to abandon pending async work (preview, retry timer)
  let retryTimer = 0;
  let stableTimer = 0;
  let failures = 0;         // consecutive failed attempts: exponent of the backoff
  let tooManyFailures = 0;  // consecutive 429 "too many tabs" answers
  let loggingOut = false;   // this tab asked for /logout: its own 4003 is expected
  let bannerActionRun = null;
  let authExpired = false;  // the server closed with 4005: say so if the preview then asks to sign in
  const people = new Map(); // name -> connections: the presence list, kept up to date by deltas

  // ------------------------------------------------------------------------------------------
  // Small helpers
  // ------------------------------------------------------------------------------------------

  const str = (value) => (value == null ? '' : String(value));

  function num(value) {
    const n = typeof value === 'number' ? value : Number(value);
    return value != null && value !== '' && Number.isFinite(n) ? n : null;
  }

  /** Creates an element; text goes through textContent, never HTML. */
  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text != null) node.textContent = text;
    return node;
  }

  function formatDelay(ms) {
    const seconds = Math.ceil(ms / 1000);
    return seconds <= 1 ? 'a moment' : `${seconds} s`;
  }

  function validateName(name) {
    if (!name) return 'Enter a name.';
    if (name.length > NAME_MAX) return `Use at most ${NAME_MAX} characters.`;
    if (!NAME_RULE.test(name)) return 'Use only letters, digits, “_”, “-” and “.”.';
    return '';
  }

  /** Retry-After is either delta-seconds or an HTTP date. Returns milliseconds or null. */
  function parseRetryAfter(value) {
    if (!value || !value.trim()) return null;
    const seconds = Number(value.trim());
    if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
    const date = Date.parse(value);
    return Number.isNaN(date) ? null : Math.max(0, date - Date.now());
  }

  /** Exponential backoff with full jitter: random in [0, min(cap, base * 2^attempt)). */
  function backoffDelay(attempt) {
    const ceiling = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** attempt);
    return Math.random() * ceiling;
  }

  /** Slow backoff for "too many tabs": 10 s doubling to 60 s, equal jitter (never near 0). */
  function tooManyDelay(attempt) {
    const ceiling = Math.min(TOO_MANY_CAP_MS, TOO_MANY_BASE_MS * 2 ** attempt);
    return ceiling / 2 + Math.random() * (ceiling / 2);
  }

  /** Honours Retry-After, spread a little so clients told the same value do not return together. */
  function withRetryAfter(retryAfterMs, fallbackMs) {
    if (retryAfterMs == null) return fallbackMs;
    const spread = Math.random() * Math.max(1000, retryAfterMs * 0.2);
    return Math.max(retryAfterMs + spread, fallbackMs);
  }

  async function readJson(response) {
    try {
      const text = await response.text();
      return text ? JSON.parse(text) : null;
    } catch {
      return null;
    }
  }

  /**
   * Headers with a fresh antiforgery token for a form post. The server requires one from every
   * browser request (anything that sends Origin or Sec-Fetch-Site); the token is bound to whoever
   * is signed in when it is fetched, so it is fetched just before each post.
   */
  async function antiforgeryHeaders() {
    const response = await fetch('/antiforgery', { credentials: 'same-origin', cache: 'no-store' });
    const body = response.ok ? await readJson(response) : null;
    if (!body || !body.token || !body.headerName) {
      throw new Error(`no antiforgery token (HTTP ${response.status})`);
    }
    return { [str(body.headerName)]: str(body.token) };
  }

  /** The human part of a problem+json body. */
  function problemText(problem) {
    if (!problem || typeof problem !== 'object') return '';
    return str(problem.detail || problem.title);
  }

  // ------------------------------------------------------------------------------------------
  // Rendering: status, banner, views, account
  // ------------------------------------------------------------------------------------------

  function setState(state, text = STATUS_TEXT[state]) {
    model.state = state;
    els.status.dataset.state = state;
    els.status.textContent = text;
    const open = state === 'open';
    els.chatSend.disabled = !open;
    els.dmSend.disabled = !open;
  }

  /**
   * Shows a notice. `action` adds one button ({label, run}); `tone` is info, warn or error.
   * The button sits beside #banner, not inside it, so #banner holds only the notice text.
   */
  function showBanner(text, { tone = 'info', action = null } = {}) {
    els.banner.textContent = text;
    els.notice.dataset.tone = tone;
    els.notice.classList.toggle('is-empty', !text);
    bannerActionRun = action ? action.run : null;
    els.bannerAction.hidden = !action;
    els.bannerAction.textContent = action ? action.label : '';
  }

  function clearBanner() {
    showBanner('');
  }

  /** 'login', 'chat' or 'none' (while the first preview is pending or the server is unreachable). */
  function showView(view) {
    els.login.hidden = view !== 'login';
    els.chat.hidden = view !== 'chat';
  }

  function currentView() {
    if (!els.chat.hidden) return 'chat';
    if (!els.login.hidden) return 'login';
    return 'none';
  }

  function renderAccount() {
    els.me.textContent = model.user || '—';
    const connections = model.connections == null ? '–' : String(model.connections);
    const limit = model.limit == null ? '–' : String(model.limit);
    els.myConnections.textContent = `${connections} / ${limit}`;
  }

  function showLoginError(text) {
    els.loginError.textContent = text;
    els.loginError.hidden = !text;
    els.loginName.setAttribute('aria-invalid', text ? 'true' : 'false');
  }

  function showDmError(text) {
    els.dmError.textContent = text;
    els.dmError.hidden = !text;
  }

  /** Forgets the previous user's conversation so the next person at this browser cannot read it. */
  function clearConversation() {
    els.messages.replaceChildren();
    people.clear();
    els.presence.replaceChildren();
    els.dmUsers.replaceChildren();
    els.dmTo.value = '';
    els.dmText.value = '';
    els.chatText.value = '';
    showDmError('');
    Object.assign(model, { user: null, connectionId: null, connections: null, limit: null });
    renderAccount();
  }

  // ------------------------------------------------------------------------------------------
  // Messages and presence
  // ------------------------------------------------------------------------------------------

  function formatTime(date) {
    return date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  }

  /** Appends a chat or dm message: li.msg[data-type] > .meta(.from[, .to], time) + .text */
  function addMessage(msg) {
    const type = msg.type === 'dm' ? 'dm' : 'chat';
    const from = str(msg.from);
    const parsed = new Date(str(msg.at));
    const at = Number.isNaN(parsed.getTime()) ? new Date() : parsed;

    const item = el('li', 'msg');
    item.dataset.type = type;
    if (from && from === model.user) item.classList.add('mine');

    const meta = el('p', 'meta');
    meta.append(el('span', 'from', from));
    if (type === 'dm') {
      meta.append(el('span', 'dm-label', ' to '), el('span', 'to', str(msg.to)));
    }
    const time = el('time', 'at', formatTime(at));
    time.dateTime = at.toISOString();
    meta.append(time);

    item.append(meta, el('p', 'text', str(msg.text)));
    appendToLog(item);
  }

  /** Appends to #messages, keeps it bounded, and follows the bottom if the reader was there. */
  function appendToLog(item) {
    const list = els.messages;
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    list.append(item);
    while (list.childElementCount > MAX_MESSAGES) list.firstElementChild.remove();
    if (atBottom) list.scrollTop = list.scrollHeight;
  }

  /** Valid presence items only: a non-empty name and a count. */
  function presenceEntries(users) {
    if (!Array.isArray(users)) return [];
    return users
      .filter((u) => u && typeof u === 'object' && str(u.name))
      .map((u) => ({ name: str(u.name), connections: num(u.connections) }));
  }

  /** A full list ({type:"presence"}): replaces what the page knew. */
  function replacePresence(users) {
    if (!Array.isArray(users)) return;
    people.clear();
    for (const u of presenceEntries(users)) {
      if (u.connections !== 0) people.set(u.name, u.connections);
    }
    renderPresence();
  }

  /** A change ({type:"presence_delta"}): each user now holds that many connections; 0 means gone. */
  function applyPresenceDelta(users) {
    for (const u of presenceEntries(users)) {
      if (u.connections === 0) people.delete(u.name); else people.set(u.name, u.connections);
    }
    renderPresence();
  }

  /** Renders `people`: li[data-user] > button.user-pick + .count */
  function renderPresence() {
    const entries = [...people]
      .map(([name, connections]) => ({ name, connections }))
      .sort((a, b) => a.name.localeCompare(b.name));

    els.presence.replaceChildren(...entries.map(presenceItem));
    els.dmUsers.replaceChildren(...entries.map((u) => {
      const option = document.createElement('option');
      option.value = u.name;
      return option;
    }));

    const self = entries.find((u) => u.name === model.user);
    if (self && self.connections != null) {
      model.connections = self.connections;
      renderAccount();
    }
  }

  function presenceItem(user) {
    const item = el('li', 'person');
    item.dataset.user = user.name;
    const isSelf = user.name === model.user;
    if (isSelf) item.classList.add('self');

    const pick = el('button', 'user-pick', user.name);
    pick.type = 'button';
    pick.title = `Send a direct message to ${user.name}`;
    pick.addEventListener('click', () => {
      els.dmTo.value = user.name;
      showDmError('');
      els.dmText.focus();
    });
    item.append(pick);
    if (isSelf) item.append(el('span', 'you', '(you)'));

    const count = el('span', 'count', user.connections == null ? '?' : String(user.connections));
    count.title = 'open connections';
    item.append(count, el('span', 'visually-hidden', ' connections'));
    return item;
  }

  // ------------------------------------------------------------------------------------------
  // Connection flow
  // ------------------------------------------------------------------------------------------

  /** Abandons any pending preview or retry timer (their continuations check `epoch`). */
  function cancelPending() {
    epoch += 1;
    clearTimeout(retryTimer);
    retryTimer = 0;
  }

  /** Closes the current socket without reacting to its close event. */
  function dropSocket(code = CLOSE_NORMAL, reason = '') {
    const ws = socket;
    socket = null;
    clearTimeout(stableTimer);
    if (ws && ws.readyState <= WebSocket.OPEN) ws.close(code, reason);
  }

  function socketUrl() {
    const url = new URL(WS_PATH, window.location.href);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    return url.href;
  }

  /** GET /ws without upgrade: the decision an upgrade would get now. Reserves nothing. */
  async function previewAdmission() {
    let response;
    try {
      response = await fetch(WS_PATH, {
        method: 'GET',
        headers: { Accept: 'application/json' },
        credentials: 'same-origin',
        cache: 'no-store',
      });
    } catch {
      return { kind: 'network' };
    }
    const body = await readJson(response);
    const retryAfterMs = parseRetryAfter(response.headers.get('Retry-After'));
    const kinds = { 200: 'admit', 401: 'unauthenticated', 403: 'forbidden', 429: 'limited', 503: 'busy' };
    return { kind: kinds[response.status] || 'error', status: response.status, body, retryAfterMs };
  }

  /**
   * One (re)connect attempt: ask the preview, then act on its answer.
   * `mode` is the state shown meanwhile: 'connecting' (first time) or 'reconnecting'.
   */
  async function attempt(mode) {
    cancelPending();
    dropSocket();
    const myEpoch = epoch;
    setState(mode);
    const result = await previewAdmission();
    if (myEpoch !== epoch) return; // superseded (logout, newer attempt…)
    handleAdmission(result, mode);
  }

  function handleAdmission(result, mode) {
    switch (result.kind) {
      case 'admit': return admitted(result.body || {}, mode);
      case 'unauthenticated':
        if (authExpired) {
          authExpired = false;
          return toLogin({ state: 'expired', banner: 'Your sign-in has expired. Sign in again.', tone: 'warn' });
        }
        return toLogin({ state: 'closed', text: 'Signed out' });
      case 'forbidden': return refusedByOrigin(result);
      case 'limited': return refusedByLimit(result);
      case 'busy': return refusedBusy(result);
      case 'network':
        return retryLater('Cannot reach the server.', backoffDelay(failures++));
      default:
        return retryLater(`Unexpected answer from the server (HTTP ${result.status}).`,
          withRetryAfter(result.retryAfterMs, backoffDelay(failures++)));
    }
  }

  function admitted(body, mode) {
    tooManyFailures = 0;
    authExpired = false;
    if (body.user != null) model.user = str(body.user);
    if (num(body.connections) != null) model.connections = num(body.connections);
    if (num(body.limit) != null) model.limit = num(body.limit);
    renderAccount();
    showView('chat');
    openSocket(mode);
  }

  function refusedByOrigin(result) {
    setState('refused', 'Refused: origin not allowed');
    const detail = problemText(result.body);
    showBanner(`The server refused connections from this page’s origin.${detail ? ` ${detail}` : ''}`,
      { tone: 'error', action: { label: 'Try again', run: retryNow } });
  }

  function refusedByLimit(result) {
    const problem = result.body || {};
    const limit = num(problem.limit);
    const current = num(problem.current);
    showView('chat'); // 429 comes after the authentication check: this user is signed in

    if (limit == null && current == null) {
      // Per-user connect rate limit: the server says when to come back.
      const delay = withRetryAfter(result.retryAfterMs, backoffDelay(failures++));
      setState('refused', 'Refused: connecting too often');
      scheduleRetry(delay);
      showBanner(`Connecting too often. Retrying in ${formatDelay(delay)}.`,
        { tone: 'warn', action: { label: 'Retry now', run: retryNow } });
      return;
    }

    // Too many tabs/connections: only closing one helps, so retry slowly and offer a button.
    if (limit != null) model.limit = limit;
    renderAccount();
    const delay = withRetryAfter(result.retryAfterMs, tooManyDelay(tooManyFailures++));
    setState('refused', 'Refused: too many connections');
    scheduleRetry(delay);
    showBanner(`Too many open tabs or connections (${current ?? '?'} / ${limit ?? '?'}). ` +
      `Close another tab of this chat. Retrying in ${formatDelay(delay)}.`,
      { tone: 'warn', action: { label: 'Try again now', run: retryNow } });
  }

  function refusedBusy(result) {
    const delay = withRetryAfter(result.retryAfterMs, backoffDelay(failures++));
    setState('refused', 'Refused: server busy');
    scheduleRetry(delay);
    const detail = problemText(result.body);
    showBanner(`The server is busy or restarting.${detail ? ` ${detail}` : ''} ` +
      `Retrying in ${formatDelay(delay)}.`,
      { tone: 'warn', action: { label: 'Retry now', run: retryNow } });
  }

  /** A transient failure: show why, stay in 'reconnecting' and try again after `delay`. */
  function retryLater(why, delay) {
    setState('reconnecting');
    scheduleRetry(delay);
    showBanner(`${why} Reconnecting in ${formatDelay(delay)}.`,
      { tone: 'warn', action: { label: 'Retry now', run: retryNow } });
  }

  function scheduleRetry(delay) {
    clearTimeout(retryTimer);
    const myEpoch = epoch;
    retryTimer = setTimeout(() => {
      retryTimer = 0;
      if (myEpoch !== epoch) return;
      model.reconnects += 1;
      attempt('reconnecting');
    }, delay);
  }

  /** A user-requested retry (banner button, network back online). */
  function retryNow() {
    model.reconnects += 1;
    attempt('reconnecting');
  }

  function openSocket(mode) {
    dropSocket();
    setState(mode);
    let ws;
    try {
      ws = new WebSocket(socketUrl());
    } catch (err) {
      retryLater(`Could not open a connection (${str(err && err.message)}).`, backoffDelay(failures++));
      return;
    }
    socket = ws;
    let opened = false;
    // A handshake that hangs is closed; the close event (1006) then takes the usual path.
    const openTimer = setTimeout(() => { if (socket === ws && !opened) ws.close(); }, OPEN_TIMEOUT_MS);

    ws.addEventListener('open', () => {
      if (socket !== ws) return;
      opened = true;
      clearTimeout(openTimer);
      els.status.textContent = 'Connected, waiting for the server…'; // 'open' comes with hello
    });
    ws.addEventListener('message', (event) => {
      if (socket === ws) onSocketMessage(event.data);
    });
    ws.addEventListener('close', (event) => {
      clearTimeout(openTimer);
      if (socket !== ws) return; // a socket we already let go of
      socket = null;
      clearTimeout(stableTimer);
      onSocketClose(event, opened);
    });
    // 'error' carries no information and is always followed by 'close', handled above.
  }

  function onSocketMessage(data) {
    let msg;
    try {
      msg = JSON.parse(data);
    } catch {
      console.warn('Ignoring a message that is not JSON');
      return;
    }
    if (!msg || typeof msg !== 'object') return;
    switch (msg.type) {
      case 'hello': return onHello(msg);
      case 'chat':
      case 'dm': return addMessage(msg);
      case 'presence': return replacePresence(msg.users);
      case 'presence_delta': return applyPresenceDelta(msg.users);
      case 'error': return onServerError(msg);
      default: return undefined; // unknown types are ignored (forward compatibility)
    }
  }

  function onHello(msg) {
    model.user = str(msg.user) || model.user;
    model.connectionId = msg.connectionId ?? null;
    if (num(msg.connections) != null) model.connections = num(msg.connections);
    if (num(msg.limit) != null) model.limit = num(msg.limit);
    renderAccount();
    setState('open');
    clearBanner();
    // Reset the backoff only once the connection has proved stable, so a server that accepts
    // and immediately drops us (1011, 4002…) still gets exponentially slower retries.
    clearTimeout(stableTimer);
    stableTimer = setTimeout(() => { failures = 0; }, STABLE_AFTER_MS);
  }

  function onServerError(msg) {
    const code = str(msg.code);
    const text = str(msg.message) || 'The server reported an error.';
    showBanner(code ? `${text} (${code})` : text, { tone: 'warn' });
  }

  function onSocketClose(event, opened) {
    model.lastClose = { code: event.code, reason: event.reason };
    model.connectionId = null;
    if (loggingOut) return; // logout() finishes the transition

    const reason = event.reason ? ` Reason: ${event.reason}` : '';
    switch (event.code) {
      case CLOSE_EVICTED: return evicted(reason);
      case CLOSE_KICKED:
        return toLogin({
          state: 'kicked',
          banner: `You were signed out (logged out in another tab, or removed by the server).${reason}`,
          tone: 'warn',
        });
      case CLOSE_AUTH_EXPIRED:
        // Not with these credentials again: the preview tells whether the cookie was renewed meanwhile
        // (then reconnect) or has expired too (then sign in again).
        authExpired = true;
        return attempt('reconnecting');
      case CLOSE_NORMAL: return closedFor(`The server closed the connection.${reason}`);
      case CLOSE_POLICY: return closedFor(`The server closed the connection: policy violation (for example, sending too fast).${reason}`);
      case CLOSE_TOO_BIG: return closedFor(`The server closed the connection: a message was too large.${reason}`);
      default: return dropped(event.code, opened);
    }
  }

  /** 4001: a newer connection of this user replaced this one. Terminal: no auto-reconnect. */
  function evicted(reason) {
    cancelPending();
    setState('evicted');
    showBanner('This chat was opened in another tab or window, which replaced this connection. ' +
      `This tab will not reconnect by itself.${reason}`,
      { tone: 'warn', action: { label: 'Use chat here', run: retryNow } });
  }

  /** Closes that a retry would not fix by itself (1000, 1008, 1009): offer a button. */
  function closedFor(text) {
    cancelPending();
    setState('closed');
    showBanner(text, { tone: 'warn', action: { label: 'Reconnect', run: retryNow } });
  }

  /** 1006, 1001, 1011, 4002 and anything unexpected: reconnect with backoff. */
  function dropped(code, opened) {
    const why = {
      1001: 'The server is restarting.',
      1011: 'The server hit an error.',
      4002: 'The connection fell too far behind.',
    }[code] || (opened ? `The connection was lost (code ${code}).` : 'Could not open a connection.');
    // The retry starts with the preview, which tells the real reason (429, 503, 401…).
    retryLater(why, backoffDelay(failures++));
  }

  /** Back to the login form (401 from the preview, kicked, signed out). */
  function toLogin({ state = 'closed', text = STATUS_TEXT[state], banner = '', tone = 'info' } = {}) {
    cancelPending();
    dropSocket();
    clearTimeout(stableTimer);
    failures = 0;
    tooManyFailures = 0;
    clearConversation();
    setState(state, text);
    showView('login');
    if (banner) showBanner(banner, { tone }); else clearBanner();
  }

  // ------------------------------------------------------------------------------------------
  // User actions
  // ------------------------------------------------------------------------------------------

  async function onLoginSubmit(event) {
    event.preventDefault();
    const name = els.loginName.value.trim();
    const invalid = validateName(name);
    if (invalid) {
      showLoginError(invalid);
      els.loginName.focus();
      return;
    }
    showLoginError('');
    els.loginSubmit.disabled = true;
    try {
      // Success is a redirect to / with the cookie set; following it is harmless.
      const response = await fetch('/login', {
        method: 'POST',
        headers: await antiforgeryHeaders(),
        body: new URLSearchParams({ name }),
        credentials: 'same-origin',
        redirect: 'follow',
      });
      if (!response.ok) {
        const problem = await readJson(response);
        showLoginError(problemText(problem) || `Sign-in failed (HTTP ${response.status}).`);
        return;
      }
    } catch {
      showLoginError('Could not reach the server. Check your connection and try again.');
      return;
    } finally {
      els.loginSubmit.disabled = false;
    }
    els.loginName.value = '';
    clearBanner();
    failures = 0;
    await attempt('connecting');
    if (currentView() === 'chat') els.chatText.focus();
  }

  async function onLogout() {
    loggingOut = true; // the server closes our sockets with 4003 meanwhile: expected
    els.logout.disabled = true;
    cancelPending();
    try {
      const response = await fetch('/logout', {
        method: 'POST',
        headers: await antiforgeryHeaders(),
        credentials: 'same-origin',
      });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
    } catch (err) {
      loggingOut = false;
      els.logout.disabled = false;
      showBanner(`Could not sign out (${str(err && err.message) || 'network error'}). Try again.`,
        { tone: 'error' });
      if (!socket) attempt('reconnecting'); // our socket may have closed meanwhile
      return;
    }
    dropSocket(CLOSE_NORMAL, 'logout');
    loggingOut = false;
    els.logout.disabled = false;
    toLogin({ state: 'closed', text: 'Signed out', banner: 'You have signed out.' });
    els.loginName.focus();
  }

  /** Sends one JSON message if connected; returns whether it was sent. */
  function send(payload) {
    if (!socket || socket.readyState !== WebSocket.OPEN || model.state !== 'open') {
      showBanner('Not connected: the message was not sent.', { tone: 'warn' });
      return false;
    }
    socket.send(JSON.stringify(payload));
    return true;
  }

  function onChatSubmit(event) {
    event.preventDefault();
    const text = els.chatText.value;
    if (!text.trim() || text.length > MAX_TEXT) return;
    if (send({ type: 'chat', text })) els.chatText.value = '';
    els.chatText.focus();
  }

  function onDmSubmit(event) {
    event.preventDefault();
    const to = els.dmTo.value.trim();
    const text = els.dmText.value;
    const invalid = validateName(to);
    if (invalid) {
      showDmError(`Recipient: ${invalid}`);
      els.dmTo.focus();
      return;
    }
    if (!text.trim() || text.length > MAX_TEXT) {
      showDmError(text.trim() ? `Use at most ${MAX_TEXT} characters.` : 'Write a message.');
      els.dmText.focus();
      return;
    }
    showDmError('');
    if (send({ type: 'dm', to, text })) els.dmText.value = '';
    els.dmText.focus();
  }

  // ------------------------------------------------------------------------------------------
  // Wiring
  // ------------------------------------------------------------------------------------------

  /** Read-only view for tests and debugging. */
  window.chatState = Object.freeze({
    get state() { return model.state; },
    get reconnects() { return model.reconnects; },
    get lastClose() { return model.lastClose && { ...model.lastClose }; },
    get user() { return model.user; },
    get connectionId() { return model.connectionId; },
    get connections() { return model.connections; },
    get limit() { return model.limit; },
  });

  els.loginForm.addEventListener('submit', onLoginSubmit);
  els.logout.addEventListener('click', onLogout);
  els.chatForm.addEventListener('submit', onChatSubmit);
  els.dmForm.addEventListener('submit', onDmSubmit);
  els.dmTo.addEventListener('input', () => showDmError(''));
  els.loginName.addEventListener('input', () => showLoginError(''));
  els.bannerAction.addEventListener('click', () => { if (bannerActionRun) bannerActionRun(); });

  // Back online while waiting to reconnect: try now rather than at the end of the backoff.
  window.addEventListener('online', () => {
    if (retryTimer && model.state === 'reconnecting') retryNow();
  });
  // Close cleanly when the page goes away so the server releases the slot at once; a page
  // restored from the back/forward cache starts over.
  window.addEventListener('pagehide', () => {
    cancelPending();
    dropSocket(CLOSE_NORMAL, 'page closed');
  });
  window.addEventListener('pageshow', (event) => {
    if (event.persisted) attempt('connecting');
  });

  renderAccount();
  showView('none');
  attempt('connecting');
})();
