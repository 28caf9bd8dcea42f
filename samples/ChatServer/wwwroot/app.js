/*
 * WebSocketPool chat sample: the browser client.
 *
 * Plain ES module, no build step, no dependencies but the WebSocketPool JavaScript client, which
 * the server serves from the npm package's own source (clients/js/src, linked into
 * wwwroot/lib/websocketpool-client by the project file). User-provided text (names, messages,
 * server reasons) only ever reaches the DOM through textContent, dataset or property setters;
 * nothing is parsed as HTML.
 *
 * The client does the connecting: it asks the "admission preview" (a plain `GET /ws`, because a
 * browser hides the HTTP status of a refused WebSocket handshake) before each attempt, and
 * decides from the close code or the refusal whether to stop, reconnect soon or back off
 * (honouring Retry-After). This page only shows what the client reports:
 *   open                      -> the chat (the admission preview says who is signed in)
 *   refused 401 / closed      -> login form
 *   refused 403 / closed      -> notice, manual retry only
 *   refused 429 (limit)       -> "too many tabs" notice while the client retries
 *   refused 429 (no limit)    -> "connecting too often" while the client retries
 *   refused 503               -> "busy" while the client retries
 *   reconnecting              -> why, and when the next attempt is
 *   closed (terminal)         -> evicted / signed out / expired / closed, by the client's kind
 *
 * Presence: the first presence message on a connection is the full list ({type:"presence"});
 * after it come only changes ({type:"presence_delta"}, same item shape, connections 0 = left),
 * applied to the list kept in `people`. A later full list (a cluster re-sends it) replaces it.
 *
 * Sign-in and sign-out are form posts that carry an antiforgery token, fetched from
 * GET /antiforgery just before each post (it is bound to whoever is signed in at the time).
 */
import { connect } from './lib/websocketpool-client/index.js';

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
  // How the client reconnects: 0.5 s doubling up to 30 s with full jitter, never sooner than the
  // server's Retry-After; a connection that stays up 5 s resets it; a handshake that hangs 15 s fails.
  const CLIENT_OPTIONS = {
    preview: true,
    backoff: { initialDelayMs: 500, maxDelayMs: 30_000 },
    stableAfterMs: 5_000,
    openTimeoutMs: 15_000,
  };

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

  let client = null;        // the current PoolClient; events from older clients are ignored
  let connected = false;    // the current client's socket opened since its last failure
  let lastRefusal = null;   // the preview's last refusal, shown with the reconnect that follows it
  let focusOnOpen = false;  // just signed in: put the cursor in the message box once connected
  let loggingOut = false;   // this tab asked for /logout: its own 4003 is expected
  let bannerActionRun = null;
  let authExpired = false;  // the sign-in expired (4005): say so if the preview then asks to sign in
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
  // Connection flow: the WebSocketPool client connects; the page shows what it reports
  // ------------------------------------------------------------------------------------------

  /** Lets go of the current client (closing its socket) without reacting to its events. */
  function stopClient(reason = '') {
    const current = client;
    client = null;
    connected = false;
    if (current) current.close(1000, reason);
  }

  /** Starts a new client; `mode` is the state shown meanwhile: 'connecting' or 'reconnecting'. */
  function start(mode) {
    stopClient();
    lastRefusal = null;
    setState(mode);
    const current = connect(WS_PATH, CLIENT_OPTIONS);
    client = current;
    const on = (type, handler) => current.addEventListener(type, (event) => {
      if (client === current) handler(event.detail);
    });
    on('open', onOpen);
    on('message', (detail) => onSocketMessage(detail.data));
    on('refused', (detail) => { lastRefusal = detail; });
    on('reconnecting', onReconnecting);
    on('closed', onClosed);
  }

  /** A user-requested retry (banner button, network back online): now rather than later. */
  function retryNow() {
    model.reconnects += 1;
    if (client && client.state === 'reconnecting') {
      setState('reconnecting');
      client.reconnectNow();
    } else {
      start('reconnecting');
    }
  }

  function onOpen(detail) {
    connected = true;
    lastRefusal = null;
    authExpired = false;
    const body = detail.admission || {};
    if (body.user != null) model.user = str(body.user);
    if (num(body.connections) != null) model.connections = num(body.connections);
    if (num(body.limit) != null) model.limit = num(body.limit);
    renderAccount();
    showView('chat');
    els.status.textContent = 'Connected, waiting for the server…'; // 'open' comes with hello
    if (focusOnOpen) {
      focusOnOpen = false;
      els.chatText.focus();
    }
  }

  function rememberClose(detail) {
    if (detail.code == null) return;
    model.lastClose = { code: detail.code, reason: str(detail.reason) };
    model.connectionId = null;
  }

  /** Why the client stopped, and what this tab offers next. */
  function onClosed(detail) {
    rememberClose(detail);
    client = null;
    connected = false;
    if (loggingOut) return; // onLogout() finishes the transition
    const reason = detail.code != null && detail.reason ? ` Reason: ${detail.reason}` : '';
    if (detail.status != null) return closedByRefusal(detail);
    switch (detail.kind) {
      case 'evicted': return evicted(reason);
      case 'kicked':
        return toLogin({
          state: 'kicked',
          banner: `You were signed out (logged out in another tab, or removed by the server).${reason}`,
          tone: 'warn',
        });
      case 'authentication-expired':
        // Not with these credentials again: a new client's preview tells whether the cookie was
        // renewed meanwhile (then it connects) or has expired too (then sign in again).
        authExpired = true;
        return start('reconnecting');
      case 'normal': return closedFor(`The server closed the connection.${reason}`);
      case 'message-too-big': return closedFor(`The server closed the connection: a message was too large.${reason}`);
      default: return closedFor(`The connection was closed (${detail.kind}).${reason}`);
    }
  }

  /** The preview refused, and the client stopped: 401, 403 or another 4xx. */
  function closedByRefusal(detail) {
    const refusal = lastRefusal;
    lastRefusal = null;
    if (detail.status === 401) {
      if (authExpired) {
        authExpired = false;
        return toLogin({ state: 'expired', banner: 'Your sign-in has expired. Sign in again.', tone: 'warn' });
      }
      return toLogin({ state: 'closed', text: 'Signed out' });
    }
    if (detail.status === 403) {
      setState('refused', 'Refused: origin not allowed');
      const text = problemText(refusal && refusal.problem);
      return showBanner(`The server refused connections from this page’s origin.${text ? ` ${text}` : ''}`,
        { tone: 'error', action: { label: 'Try again', run: retryNow } });
    }
    return closedFor(`Unexpected answer from the server (HTTP ${detail.status}).`);
  }

  /** The client will try again after `detail.delayMs`: say why. */
  function onReconnecting(detail) {
    rememberClose(detail);
    model.reconnects += 1;
    const delay = formatDelay(detail.delayMs);
    const refusal = detail.status != null ? lastRefusal : null;
    lastRefusal = null;
    const wasConnected = connected;
    connected = false;
    if (refusal) return showRefusal(refusal, delay);

    const why = {
      'going-away': 'The server is restarting.',
      'service-restart': 'The server is restarting.',
      'internal-error': 'The server hit an error.',
      'slow-consumer': 'The connection fell too far behind.',
      'policy-violation': 'The server closed the connection: policy violation (for example, sending too fast).',
      unreachable: 'Cannot reach the server.',
    }[detail.kind] || (wasConnected ? `The connection was lost (code ${detail.code}).` : 'Could not open a connection.');
    setState('reconnecting');
    showBanner(`${why} Reconnecting in ${delay}.`,
      { tone: 'warn', action: { label: 'Retry now', run: retryNow } });
  }

  /** A refusal the client retries (429, 503, other 5xx). */
  function showRefusal(refusal, delay) {
    const limit = num(refusal.limit);
    const current = num(refusal.current);
    if (refusal.status === 429) {
      showView('chat'); // 429 comes after the authentication check: this user is signed in
      if (limit == null && current == null) {
        setState('refused', 'Refused: connecting too often');
        return showBanner(`Connecting too often. Retrying in ${delay}.`,
          { tone: 'warn', action: { label: 'Retry now', run: retryNow } });
      }
      // Too many tabs/connections: only closing one helps.
      if (limit != null) model.limit = limit;
      renderAccount();
      setState('refused', 'Refused: too many connections');
      return showBanner(`Too many open tabs or connections (${current ?? '?'} / ${limit ?? '?'}). ` +
        `Close another tab of this chat. Retrying in ${delay}.`,
        { tone: 'warn', action: { label: 'Try again now', run: retryNow } });
    }
    if (refusal.status === 503) {
      setState('refused', 'Refused: server busy');
      const text = problemText(refusal.problem);
      return showBanner(`The server is busy or restarting.${text ? ` ${text}` : ''} Retrying in ${delay}.`,
        { tone: 'warn', action: { label: 'Retry now', run: retryNow } });
    }
    setState('reconnecting');
    return showBanner(`Unexpected answer from the server (HTTP ${refusal.status}). Reconnecting in ${delay}.`,
      { tone: 'warn', action: { label: 'Retry now', run: retryNow } });
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
  }

  function onServerError(msg) {
    const code = str(msg.code);
    const text = str(msg.message) || 'The server reported an error.';
    showBanner(code ? `${text} (${code})` : text, { tone: 'warn' });
  }

  /** Evicted: a newer connection of this user replaced this one. The client does not reconnect. */
  function evicted(reason) {
    setState('evicted');
    showBanner('This chat was opened in another tab or window, which replaced this connection. ' +
      `This tab will not reconnect by itself.${reason}`,
      { tone: 'warn', action: { label: 'Use chat here', run: retryNow } });
  }

  /** Closes that a retry would not fix by itself: offer a button. */
  function closedFor(text) {
    setState('closed');
    showBanner(text, { tone: 'warn', action: { label: 'Reconnect', run: retryNow } });
  }

  /** Back to the login form (401 from the preview, kicked, signed out). */
  function toLogin({ state = 'closed', text = STATUS_TEXT[state], banner = '', tone = 'info' } = {}) {
    stopClient();
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
    focusOnOpen = true;
    start('connecting');
  }

  async function onLogout() {
    loggingOut = true; // the server closes our sockets with 4003 meanwhile: expected
    els.logout.disabled = true;
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
      if (!client) start('reconnecting'); // our connection may have closed meanwhile
      return;
    }
    stopClient('logout');
    loggingOut = false;
    els.logout.disabled = false;
    toLogin({ state: 'closed', text: 'Signed out', banner: 'You have signed out.' });
    els.loginName.focus();
  }

  /** Sends one JSON message if connected; returns whether it was sent. */
  function send(payload) {
    if (!client || model.state !== 'open') {
      showBanner('Not connected: the message was not sent.', { tone: 'warn' });
      return false;
    }
    try {
      client.send(JSON.stringify(payload));
    } catch (err) {
      // The client's queue is full, or it has just stopped: either way this message is not sent.
      showBanner(`The message was not sent: ${str(err && err.message)}`, { tone: 'warn' });
      return false;
    }
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
    if (client && client.state === 'reconnecting') retryNow();
  });
  // Close cleanly when the page goes away so the server releases the slot at once; a page
  // restored from the back/forward cache starts over.
  window.addEventListener('pagehide', () => {
    stopClient('page closed');
  });
  window.addEventListener('pageshow', (event) => {
    if (event.persisted) start('connecting');
  });

  renderAccount();
  showView('none');
  start('connecting');
})();
