/*
 * WebSocketPool chat sample: the notifications panel.
 *
 * A second pool beside the chat: `/ws/notify` (2 connections per user, its own handler). It pushes
 * `{type:"joined",user,at}` when someone opens their first chat tab, greets each connection with
 * `{type:"notice",text,connections,limit,at}`, and answers `{type:"time"}` with `{type:"time",at}`.
 *
 * Like the chat, it connects through the WebSocketPool client, which asks the admission preview
 * before each (re)connect and reconnects by the close-code table: a 429 (two other tabs already
 * hold this user's notifications) is retried no sooner than the server's Retry-After; 401, a kick
 * or an eviction stop it.
 *
 * Independent of app.js: it adds its own panel to the page and follows only the page's markup:
 * when the chat section (#chat) is shown the user is signed in, so it connects; when it is hidden
 * again (signed out) it closes.
 * Text reaches the DOM only through textContent.
 */
import { connect } from './lib/websocketpool-client/index.js';

(() => {
  const PATH = '/ws/notify';
  const MAX_ITEMS = 20;
  const CLIENT_OPTIONS = { preview: true, backoff: { initialDelayMs: 1_000, maxDelayMs: 30_000 } };

  const chat = document.getElementById('chat');
  let client = null;

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
    if (client && client.state === 'open') {
      client.send(JSON.stringify({ type: 'time' }));
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
  // Connection: the client connects and reconnects; the panel shows what it reports
  // ------------------------------------------------------------------------------------------

  function start() {
    const current = connect(PATH, CLIENT_OPTIONS);
    client = current;
    const on = (type, handler) => current.addEventListener(type, (event) => {
      if (client === current) handler(event.detail);
    });
    on('open', () => { timeButton.disabled = false; });
    on('message', (detail) => onMessage(detail.data));
    on('reconnecting', (detail) => {
      timeButton.disabled = true;
      status.textContent = detail.status === 429
        ? 'Notifications are already open in two other tabs; looking again later.'
        : 'Disconnected; reconnecting.';
    });
    on('closed', (detail) => {
      client = null;
      timeButton.disabled = true;
      if (detail.status === 401) {
        status.textContent = 'Sign in to get notifications.';
      } else if (detail.class === 'terminal' && detail.code != null && detail.code !== 1000) {
        status.textContent = 'Notifications closed by the server.';
      } else {
        status.textContent = 'Not connected.';
      }
    });
  }

  function stop() {
    const current = client;
    client = null;
    timeButton.disabled = true;
    if (current) current.close(1000);
    status.textContent = 'Not connected.';
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

  function follow(chat) {
    if (!chat.hidden && !client) {
      start();
    } else if (chat.hidden && client) {
      stop();
    }
  }

  if (chat) {
    new MutationObserver(() => follow(chat)).observe(chat, { attributes: true, attributeFilter: ['hidden'] });
    follow(chat);
  } else {
    start();
  }
})();
