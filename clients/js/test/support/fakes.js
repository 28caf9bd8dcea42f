// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

// Stand-ins for the client's surroundings (not for the client): a clock whose timers run only when a test says so, a
// WebSocket whose server side the test plays, and a fetch that answers the preview as told.

/** A clock whose timers fire only through `fire`/`fireNext`; it remembers every delay it was asked for. */
export class ManualClock {
  nowMs = 1_700_000_000_000;
  nextId = 1;
  /** @type {Map<number, { callback: () => void, ms: number }>} */
  timers = new Map();
  /** @type {number[]} */
  requested = [];

  setTimeout = (/** @type {() => void} */ callback, /** @type {number} */ ms) => {
    const id = this.nextId++;
    this.timers.set(id, { callback, ms });
    this.requested.push(ms);
    return id;
  };

  clearTimeout = (/** @type {unknown} */ id) => { this.timers.delete(/** @type {number} */ (id)); };

  now = () => this.nowMs;

  /** Pending delays, in the order they were set. */
  pending() { return [...this.timers.values()].map((t) => t.ms); }

  /** Fires the pending timer set with exactly `ms` (the first one if several). */
  fire(ms) {
    for (const [id, timer] of this.timers) {
      if (timer.ms === ms) {
        this.timers.delete(id);
        timer.callback();
        return;
      }
    }
    throw new Error(`No pending timer of ${ms} ms (pending: ${this.pending().join(', ')})`);
  }
}

/** A WebSocket whose server side the test plays: `accept`, `message`, `closeFromServer`, `failHandshake`. */
export class FakeWebSocket extends EventTarget {
  static CONNECTING = 0;
  static OPEN = 1;
  static CLOSING = 2;
  static CLOSED = 3;
  /** @type {FakeWebSocket[]} */
  static instances = [];

  /** @param {string} url @param {string | string[]} [protocols] */
  constructor(url, protocols) {
    super();
    this.url = url;
    this.protocols = protocols;
    this.readyState = 0;
    this.protocol = '';
    this.binaryType = 'blob';
    /** @type {unknown[]} */
    this.sent = [];
    /** @type {{ code?: number, reason?: string } | null} */
    this.closedByClient = null;
    FakeWebSocket.instances.push(this);
  }

  static reset() { FakeWebSocket.instances = []; }

  static get last() { return FakeWebSocket.instances[FakeWebSocket.instances.length - 1]; }

  send(data) {
    if (this.readyState !== 1) throw new Error('not open');
    this.sent.push(data);
  }

  close(code, reason) {
    this.closedByClient = { code, reason };
    this.readyState = 3;
  }

  accept(protocol = '') {
    this.readyState = 1;
    this.protocol = protocol;
    this.dispatchEvent(new Event('open'));
  }

  message(data) {
    this.dispatchEvent(Object.assign(new Event('message'), { data }));
  }

  closeFromServer(code, reason = '') {
    this.readyState = 3;
    this.dispatchEvent(Object.assign(new Event('close'), { code, reason, wasClean: code !== 1006 }));
  }

  /** What Node 20's WebSocket does on a refused handshake: an error, and no close event. */
  failHandshake() {
    this.readyState = 3;
    this.dispatchEvent(new Event('error'));
  }
}

/**
 * A fetch that answers each call with the next of `answers` ({status, body, headers}) and records the calls.
 *
 * @param {{ status: number, body?: unknown, headers?: Record<string, string> }[]} answers
 */
export function scriptedFetch(answers) {
  /** @type {{ url: string, init: RequestInit | undefined }[]} */
  const calls = [];
  const fetchFn = async (/** @type {string} */ url, /** @type {RequestInit | undefined} */ init) => {
    calls.push({ url: String(url), init });
    const answer = answers.shift();
    if (!answer) throw new TypeError('fetch failed');
    const body = answer.body === undefined ? null : JSON.stringify(answer.body);
    return new Response(answer.status === 204 ? null : body, { status: answer.status, headers: answer.headers });
  };
  return Object.assign(fetchFn, { calls });
}

/** Lets pending promise continuations (the preview's awaits) run. */
export async function settle() {
  for (let i = 0; i < 10; i++) await Promise.resolve();
  await new Promise((resolveImmediate) => setImmediate(resolveImmediate));
}

/** Clients made by tests, closed after each test whatever its outcome (see `closeClients`). */
const liveClients = new Set();

/** Closes every client a recorder watches: a failed test must not leave one reconnecting. */
export function closeClients() {
  for (const client of liveClients) client.close();
  liveClients.clear();
}

/**
 * Records a client's events. `until(type, predicate, skip)` resolves with the first matching event of that type after
 * the first `skip` ones, already seen or still to come, and fails after `timeoutMs`.
 */
export function recorder(client) {
  liveClients.add(client);
  /** @type {{ type: string, detail: any }[]} */
  const events = [];
  /** @type {(() => void)[]} */
  let waiters = [];
  for (const type of ['open', 'message', 'reconnecting', 'refused', 'closed']) {
    client.addEventListener(type, (/** @type {any} */ event) => {
      events.push({ type, detail: event.detail });
      const current = waiters;
      waiters = [];
      for (const wake of current) wake();
    });
  }
  return {
    events,
    of: (/** @type {string} */ type) => events.filter((e) => e.type === type).map((e) => e.detail),
    types: () => events.map((e) => e.type),
    /**
     * @param {string} type
     * @param {(detail: any) => boolean} [predicate]
     * @param {number} [skip]
     * @param {number} [timeoutMs]
     */
    until(type, predicate = () => true, skip = 0, timeoutMs = 20_000) {
      return new Promise((resolveEvent, reject) => {
        const timer = setTimeout(() => reject(new Error(`No '${type}' event within ${timeoutMs} ms; got: ${JSON.stringify(events)}`)), timeoutMs);
        const check = () => {
          const found = events.filter((e) => e.type === type).slice(skip).find((e) => predicate(e.detail));
          if (found) {
            clearTimeout(timer);
            resolveEvent(found.detail);
          } else {
            waiters.push(check);
          }
        };
        check();
      });
    },
  };
}

/**
 * The real timers, with every delay divided by `scale` so that reconnect delays (and Retry-After floors) pass quickly in
 * integration tests; the delays the client asked for are kept in `requested`.
 */
export function fastClock(scale = 20) {
  /** @type {number[]} */
  const requested = [];
  return {
    requested,
    setTimeout: (/** @type {() => void} */ callback, /** @type {number} */ ms) => {
      requested.push(ms);
      return setTimeout(callback, Math.floor(ms / scale));
    },
    clearTimeout: (/** @type {any} */ handle) => clearTimeout(handle),
    now: () => Date.now(),
  };
}
