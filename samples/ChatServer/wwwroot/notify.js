/*
 * WebSocketPool chat sample: the notifications panel.
 *
 * A second pool beside the chat: `/ws/notify` (2 connections per user, its own handler). It pushes
 * `{type:"joined",user,at}` when someone opens their first chat tab, greets each connection with
 * `{type:"notice",text,connections,limit,at}`, and answers `{type:"time"}` with `{type:"time",at}`.
 *
 * Like the chat, every (re)connect starts with the admission preview, a plain `GET /ws/notify`
 * (a browser hides a refused handshake's status): 200 -> connect; 401 -> not signed in, wait;
 * 429 -> two other tabs already hold this user's notifications, say so and look again later;
 * other answers -> retry with backoff.
 *
 * Independent of app.js: it adds its own panel to the page and follows only the page's markup:
 * when the chat section (#chat) is shown the user is signed in, so it connects; when it is hidden
 * again (signed out) it closes.
 * Text reaches the DOM only through textContent.
 */
'use strict';

(() => {
  const PATH = '/ws/notify';
  const MAX_ITEMS = 20;
  const RETRY_BASE_MS = 1_000;
  const RETRY_CAP_MS = 30_000;
  const TOO_MANY_RETRY_MS = 30_000;
  const CLOSE_EVICTED = 4001;
  const CLOSE_KICKED = 4003;
  const CLOSE_AUTH_EXPIRED = 4005;

  const chat = document.getElementById('chat');
  let socket = null;
  let attempt = 0;
  let retryTimer = 0;

  // ------------------------------------------------------------------------------------------
  // The panel: a heading, a status line, a "server time" button and the list of notifications.
  // ------------------------------------------------------------------------------------------

  const panel = document.createElement('section');
  panel.className = 'notifications';
  panel.setAttribute('aria-labelledby', 'notify-title');
  const title = document.createElement('h2');
  title.id = 'notify-title';
  title.textContent = 'Notifications';
  const status = document.createElement('p');
  status.className = 'hint';
  status.id = 'notify-status';
  status.textContent = 'Not connected.';
  const timeButton = document.createElement('button');
  timeButton.type = 'button';
  timeButton.id = 'notify-time';
  timeButton.textContent = 'Server time';
  timeButton.disabled = true;
  const list = document.createElement('ol');
  list.id = 'notify-list';
  list.className = 'notify-list';
  list.setAttribute('aria-live', 'polite');
  panel.append(title, status, timeButton, list);
  (document.querySelector('.people') || document.querySelector('main') || document.body).append(panel);

  timeButton.addEventListener('click', () => {
    if (socket && socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify({ type: 'time' }));
    }
  });

  function show(text) {
    const item = document.createElement('li');
    item.textContent = text;
    list.prepend(item);
    while (list.children.length > MAX_ITEMS) {
      list.lastElementChild.remove();
    }
  }

  function clock(iso) {
    const at = new Date(iso);
    return Number.isNaN(at.getTime()) ? '' : at.toLocaleTimeString();
  }

  // ------------------------------------------------------------------------------------------
  // Connection
  // ------------------------------------------------------------------------------------------

  function retryLater(ms) {
    clearTimeout(retryTimer);
    retryTimer = setTimeout(connect, ms);
  }

  function backoff() {
    attempt += 1;
    const cap = Math.min(RETRY_CAP_MS, RETRY_BASE_MS * 2 ** Math.min(attempt, 10));
    return Math.random() * cap;
  }

  async function connect() {
    let response;
    try {
      response = await fetch(PATH, { credentials: 'same-origin', cache: 'no-store' });
    } catch {
      status.textContent = 'Server unreachable; retrying.';
      retryLater(backoff());
      return;
    }

    if (response.status === 401) {
      status.textContent = 'Sign in to get notifications.';
      return;
    }

    if (response.status === 429) {
      status.textContent = 'Notifications are already open in two other tabs.';
      retryLater(TOO_MANY_RETRY_MS);
      return;
    }

    if (!response.ok) {
      status.textContent = 'Notifications unavailable; retrying.';
      retryLater(backoff());
      return;
    }

    const url = new URL(PATH, window.location.href);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    socket = new WebSocket(url);
    socket.addEventListener('open', () => {
      attempt = 0;
      timeButton.disabled = false;
    });
    socket.addEventListener('message', (event) => onMessage(event.data));
    socket.addEventListener('close', (event) => {
      socket = null;
      timeButton.disabled = true;
      if (event.code === CLOSE_KICKED || event.code === CLOSE_EVICTED || event.code === CLOSE_AUTH_EXPIRED) {
        status.textContent = 'Notifications closed by the server.';
        return;
      }

      if (chat && chat.hidden) {
        status.textContent = 'Not connected.';
        return;
      }

      status.textContent = 'Disconnected; reconnecting.';
      retryLater(backoff());
    });
  }

  function onMessage(data) {
    let message;
    try {
      message = JSON.parse(data);
    } catch {
      return;
    }

    switch (message.type) {
      case 'notice':
        status.textContent = `${message.text} (${message.connections} of ${message.limit} notification connections)`;
        break;
      case 'joined':
        show(`${clock(message.at)} ${message.user} joined the chat`);
        break;
      case 'time':
        show(`Server time: ${clock(message.at)}`);
        break;
      case 'error':
        show(`Error: ${message.message}`);
        break;
      default:
        break;
    }
  }

  function connected() {
    return socket !== null && (socket.readyState === WebSocket.CONNECTING || socket.readyState === WebSocket.OPEN);
  }

  function follow(chat) {
    if (!chat.hidden && !connected()) {
      attempt = 0;
      clearTimeout(retryTimer);
      connect();
    } else if (chat.hidden) {
      clearTimeout(retryTimer);
      if (socket) {
        socket.close(1000);
      }
    }
  }

  if (chat) {
    new MutationObserver(() => follow(chat)).observe(chat, { attributes: true, attributeFilter: ['hidden'] });
    follow(chat);
  } else {
    connect();
  }
})();
