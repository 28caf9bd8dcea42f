// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

import { ClientClosedError, SendQueueFullError } from './errors.js';
import { DEFAULT_BACKOFF, classifyClose, classifyRefusal, parseRetryAfter, reconnectDelay } from './policy.js';

/** @typedef {import('./policy.js').CloseClass} CloseClass */
/** @typedef {import('./policy.js').BackoffOptions} BackoffOptions */

/**
 * The timers and time the client uses; inject a fake one to test delays without waiting.
 *
 * @typedef {object} Clock
 * @property {(callback: () => void, ms: number) => unknown} setTimeout
 * @property {(handle: unknown) => void} clearTimeout
 * @property {() => number} now Milliseconds since the epoch (for `Retry-After` dates).
 */

/**
 * A WebSocket constructor: the global one in browsers and Node 22+, or any with the same shape.
 *
 * @typedef {new (url: string, protocols?: string | string[]) => WebSocket} WebSocketConstructor
 */

/**
 * @typedef {object} QueueOptions
 * @property {number} [maxMessages] Messages kept while not connected. Default 100; 0 refuses every send while not connected.
 * @property {number} [maxBytes] Bytes kept while not connected (UTF-8 for text). Default 1 MiB.
 */

/**
 * @typedef {object} ConnectOptions
 * @property {string | string[]} [protocols] Subprotocols, passed to the WebSocket as they are.
 * @property {boolean} [preview] Ask the admission preview (a plain GET of the same URL over http(s)) before each
 *   attempt. Default: on in browsers (they cannot see why a handshake was refused), off elsewhere.
 * @property {BackoffOptions} [backoff] Reconnect timing.
 * @property {number} [maxAttempts] Consecutive failed attempts after which the client stops. Default: no limit.
 * @property {QueueOptions} [queue] Bound of the messages sent while (re)connecting.
 * @property {number} [openTimeoutMs] A preview or handshake that takes longer fails (and is retried). Default 15000.
 * @property {number} [stableAfterMs] A connection open this long resets the backoff. Default 5000.
 * @property {BinaryType} [binaryType] How binary messages arrive. Default `arraybuffer`.
 * @property {RequestCredentials} [credentials] The preview's `credentials`. Default `same-origin`.
 * @property {WebSocketConstructor} [WebSocket] Default: the global `WebSocket`.
 * @property {typeof fetch} [fetch] Used by the preview. Default: the global `fetch`.
 * @property {Clock} [clock] Default: the global timers and `Date.now`.
 * @property {() => number} [random] A source in [0, 1) for the jitter. Default `Math.random`.
 * @property {boolean} [resume] Speak the pool's resume protocol (`websocketpool.resume.v1`, docs/resume-protocol.md):
 *   offered composed with each of `protocols` (and the plain ones after them, for pools without resume); when the pool
 *   selects it, a dropped connection reconnects into its session and receives what it missed, in order, exactly once.
 *   Default false. Needs `binaryType` `arraybuffer`.
 */

/**
 * @typedef {object} OpenDetail
 * @property {string} protocol The subprotocol the server chose ('' for none).
 * @property {number} attempt Consecutive attempts before this one succeeded (0 on a first try).
 * @property {unknown} admission The preview's answer (`{user, connections, limit}` from the pool), or null.
 * @property {boolean} resumed True when this connection resumed the previous one's session (same connection on the
 *   server, the missed messages delivered): the app need not resynchronise. False for a new session.
 */

/**
 * @typedef {object} MessageDetail
 * @property {string | ArrayBuffer | Blob} data The message, as the WebSocket delivered it.
 */

/**
 * Why the client is about to reconnect, and when.
 *
 * @typedef {object} ReconnectingDetail
 * @property {number} attempt The attempt about to be made, 1-based, counted since the last stable connection.
 * @property {number} delayMs How long the client waits before it.
 * @property {Exclude<CloseClass, 'terminal'>} class
 * @property {string} kind The close code's or refusal's name (`going-away`, `abnormal`, `unavailable`, `unreachable`…).
 * @property {number | null} code The close code, when a socket closed.
 * @property {string} reason The close reason, or the refusal's detail.
 * @property {number | null} status The HTTP status, when the preview refused.
 * @property {number | null} retryAfterMs The server's Retry-After, when it sent one.
 */

/**
 * The preview refused the connection (it would not be admitted right now).
 *
 * @typedef {object} RefusedDetail
 * @property {number} status The HTTP status (401, 403, 429, 503…).
 * @property {string | null} reason The problem body's `reason` (`user_limit`, `rate_limited`, `draining`, …).
 * @property {number | null} limit The problem body's `limit`, for limits.
 * @property {number | null} current The problem body's `current`, for limits.
 * @property {string} title The problem's title.
 * @property {string} detail The problem's detail.
 * @property {number | null} retryAfterMs The `Retry-After` header in milliseconds.
 * @property {CloseClass} class `terminal` (the client stops) or `backoff` (it retries).
 * @property {string} kind `unauthenticated`, `forbidden`, `too-many-connections`, `unavailable`, `refused`, `server-error`.
 * @property {unknown} problem The whole problem+json body, or null.
 */

/**
 * The client stopped; it does not reconnect any more.
 *
 * @typedef {object} ClosedDetail
 * @property {number | null} code The close code (the app's own with `close()`), or null after a refusal.
 * @property {string} reason The close reason, or the refusal's detail.
 * @property {CloseClass} class `terminal`, or the class of the last failure when `maxAttempts` ran out.
 * @property {string} kind The close code's or refusal's name; `client-closed` after `close()`.
 * @property {number | null} status The HTTP status of a refusal, else null.
 * @property {boolean} exhausted True when the client stopped because `maxAttempts` ran out.
 * @property {number} unsent Queued messages that were never sent.
 */

/**
 * The client's events and their types, for typed listeners.
 *
 * @typedef {object} PoolClientEventMap
 * @property {CustomEvent<OpenDetail>} open
 * @property {CustomEvent<MessageDetail>} message
 * @property {CustomEvent<ReconnectingDetail>} reconnecting
 * @property {CustomEvent<RefusedDetail>} refused
 * @property {CustomEvent<ClosedDetail>} closed
 */

/** @typedef {'connecting' | 'open' | 'reconnecting' | 'closed'} ClientState */
/** @typedef {string | ArrayBufferLike | Blob | ArrayBufferView} SendData */

/**
 * @typedef {object} Failure
 * @property {CloseClass} class
 * @property {string} kind
 * @property {number | null} code
 * @property {string} reason
 * @property {number | null} status
 * @property {number | null} retryAfterMs
 */

const SYSTEM_CLOCK = Object.freeze({
  setTimeout: (/** @type {() => void} */ callback, /** @type {number} */ ms) => globalThis.setTimeout(callback, ms),
  clearTimeout: (/** @type {unknown} */ handle) => globalThis.clearTimeout(/** @type {any} */ (handle)),
  now: () => Date.now(),
});

/**
 * A WebSocket to a WebSocketPool endpoint that reconnects by the pool's rules: the admission preview, `Retry-After`,
 * the close-code classes and jittered backoff, with a bounded queue for what is sent while it reconnects.
 *
 * Events (each a `CustomEvent` whose `detail` is described by the typedef of the same name):
 * `open` ({@link OpenDetail}), `message` ({@link MessageDetail}), `reconnecting` ({@link ReconnectingDetail}),
 * `refused` ({@link RefusedDetail}) and, once, `closed` ({@link ClosedDetail}).
 */
export class PoolClient extends EventTarget {
  /** @type {string} */ #url;
  /** @type {string} */ #previewUrl;
  /** @type {string | string[] | undefined} */ #protocols;
  /** @type {boolean} */ #preview;
  /** @type {Required<BackoffOptions>} */ #backoff;
  /** @type {number} */ #maxAttempts;
  /** @type {number} */ #maxMessages;
  /** @type {number} */ #maxBytes;
  /** @type {number} */ #openTimeoutMs;
  /** @type {number} */ #stableAfterMs;
  /** @type {BinaryType} */ #binaryType;
  /** @type {RequestCredentials} */ #credentials;
  /** @type {WebSocketConstructor} */ #WebSocket;
  /** @type {typeof fetch | undefined} */ #fetch;
  /** @type {Clock} */ #clock;
  /** @type {() => number} */ #random;
  /** @type {boolean} */ #resume;
  /** The session token of the resume protocol, kept across a drop; null when there is no session to resume. */
  /** @type {string | null} */ #token = null;
  /** The highest sequence received in the session, and the highest acknowledged. */
  #last = 0;
  #acked = 0;
  /** @type {unknown} */ #ackTimer = null;
  /** Whether the current socket speaks the resume protocol (its frames carry headers). */
  #framed = false;

  /** @type {ClientState} */ #state = 'connecting';
  /** @type {WebSocket | null} */ #socket = null;
  /** Bumped whenever pending work (a preview, a timer) must be abandoned. */
  #generation = 0;
  /** Consecutive attempts since the last stable connection. */
  #attempt = 0;
  /** @type {unknown} */ #retryTimer = null;
  /** @type {unknown} */ #openTimer = null;
  /** @type {unknown} */ #stableTimer = null;
  /** @type {unknown} */ #admission = null;
  /** @type {SendData[]} */ #queue = [];
  /** @type {number[]} */ #queueSizes = [];
  #queuedBytes = 0;
  /** @type {ClosedDetail | null} */ #closed = null;

  /**
   * Use {@link connect}.
   *
   * @param {string | URL} url `ws:`/`wss:` (or `http:`/`https:`, or a path resolved against the page).
   * @param {ConnectOptions} [options]
   */
  constructor(url, options = {}) {
    super();
    const base = typeof location === 'undefined' ? undefined : location.href;
    const socketUrl = new URL(url, base);
    if (socketUrl.protocol === 'http:') socketUrl.protocol = 'ws:';
    else if (socketUrl.protocol === 'https:') socketUrl.protocol = 'wss:';
    if (socketUrl.protocol !== 'ws:' && socketUrl.protocol !== 'wss:') {
      throw new TypeError(`The URL must be ws:, wss:, http: or https:, not ${socketUrl.protocol}`);
    }
    socketUrl.hash = '';
    const previewUrl = new URL(socketUrl.href);
    previewUrl.protocol = socketUrl.protocol === 'wss:' ? 'https:' : 'http:';
    this.#url = socketUrl.href;
    this.#previewUrl = previewUrl.href;
    this.#protocols = options.protocols;

    const backoff = { ...DEFAULT_BACKOFF, ...definedOnly(options.backoff) };
    positive('backoff.initialDelayMs', backoff.initialDelayMs);
    positive('backoff.promptDelayMs', backoff.promptDelayMs);
    if (!(backoff.maxDelayMs >= backoff.initialDelayMs)) {
      throw new RangeError(`backoff.maxDelayMs (${backoff.maxDelayMs}) must be at least backoff.initialDelayMs (${backoff.initialDelayMs}).`);
    }
    if (!(backoff.factor >= 1)) throw new RangeError(`backoff.factor must be at least 1, not ${backoff.factor}.`);
    this.#backoff = backoff;
    this.#maxAttempts = options.maxAttempts ?? Infinity;
    positive('maxAttempts', this.#maxAttempts);
    this.#maxMessages = options.queue?.maxMessages ?? 100;
    this.#maxBytes = options.queue?.maxBytes ?? 1024 * 1024;
    notNegative('queue.maxMessages', this.#maxMessages);
    notNegative('queue.maxBytes', this.#maxBytes);
    this.#openTimeoutMs = options.openTimeoutMs ?? 15_000;
    this.#stableAfterMs = options.stableAfterMs ?? 5_000;
    positive('openTimeoutMs', this.#openTimeoutMs);
    notNegative('stableAfterMs', this.#stableAfterMs);
    this.#binaryType = options.binaryType ?? 'arraybuffer';
    this.#credentials = options.credentials ?? 'same-origin';

    const WebSocketType = options.WebSocket ?? globalThis.WebSocket;
    if (typeof WebSocketType !== 'function') {
      throw new TypeError('No WebSocket: this runtime has no global WebSocket (Node before 22 needs --experimental-websocket); pass options.WebSocket.');
    }
    this.#WebSocket = WebSocketType;
    const inBrowser = typeof window !== 'undefined' && typeof document !== 'undefined';
    this.#preview = options.preview ?? inBrowser;
    this.#fetch = options.fetch ?? (typeof fetch === 'function' ? fetch.bind(globalThis) : undefined);
    if (this.#preview && typeof this.#fetch !== 'function') {
      throw new TypeError('The preview needs fetch: pass options.fetch, or preview: false.');
    }
    this.#clock = options.clock ?? SYSTEM_CLOCK;
    this.#random = options.random ?? Math.random;
    this.#resume = options.resume ?? false;
    if (this.#resume && this.#binaryType !== 'arraybuffer') {
      throw new RangeError('resume needs binaryType arraybuffer: the protocol reads a header in front of every message.');
    }

    // Started after the caller had a chance to add its listeners.
    const generation = this.#generation;
    queueMicrotask(() => { if (generation === this.#generation) void this.#attemptConnection(); });
  }

  /**
   * Adds a listener; the client's own events come with a typed `detail` (see {@link PoolClientEventMap}).
   *
   * @template {keyof PoolClientEventMap} K
   * @overload
   * @param {K} type
   * @param {(event: PoolClientEventMap[K]) => void} listener
   * @param {boolean | AddEventListenerOptions} [options]
   * @returns {void}
   */
  /**
   * @overload
   * @param {string} type
   * @param {EventListenerOrEventListenerObject | null} listener
   * @param {boolean | AddEventListenerOptions} [options]
   * @returns {void}
   */
  /**
   * @param {string} type
   * @param {any} listener
   * @param {boolean | AddEventListenerOptions} [options]
   * @returns {void}
   */
  addEventListener(type, listener, options) {
    super.addEventListener(type, listener, options);
  }

  /** `connecting`, `open`, `reconnecting` or `closed`. */
  get state() { return this.#state; }

  /** The socket's URL. */
  get url() { return this.#url; }

  /** The subprotocol the server chose for the current connection ('' when none or not connected). */
  get protocol() { return this.#socket && this.#state === 'open' ? appProtocol(this.#socket.protocol) : ''; }

  /** True while the current connection speaks the resume protocol: a drop will be resumed, not started afresh. */
  get resumable() { return this.#state === 'open' && this.#framed; }

  /** The last admission preview's answer (the pool's `{user, connections, limit}`), or null. */
  get admission() { return this.#admission; }

  /** Messages waiting for the connection. */
  get queuedMessages() { return this.#queue.length; }

  /** Bytes waiting for the connection. */
  get queuedBytes() { return this.#queuedBytes; }

  /** Why the client stopped, once it has; else null. */
  get closedDetail() { return this.#closed; }

  /**
   * Sends a message, or queues it while the client (re)connects; the queue is sent in order once connected.
   *
   * @param {SendData} data
   * @returns {'sent' | 'queued'}
   * @throws {SendQueueFullError} when not connected and the queue is at its bound.
   * @throws {ClientClosedError} when the client has stopped.
   */
  send(data) {
    if (this.#closed) throw new ClientClosedError(this.#closed.kind);
    const socket = this.#socket;
    if (this.#state === 'open' && socket && socket.readyState === OPEN) {
      this.#write(socket, data);
      return 'sent';
    }
    const size = byteSize(data);
    if (this.#queue.length + 1 > this.#maxMessages || this.#queuedBytes + size > this.#maxBytes) {
      throw new SendQueueFullError({
        messageBytes: size,
        queuedMessages: this.#queue.length,
        queuedBytes: this.#queuedBytes,
        maxMessages: this.#maxMessages,
        maxBytes: this.#maxBytes,
      });
    }
    this.#queue.push(data);
    this.#queueSizes.push(size);
    this.#queuedBytes += size;
    return 'queued';
  }

  /**
   * Stops the client: closes the socket with `code` (default 1000) and never reconnects. `closed` follows at once,
   * with kind `client-closed`; queued messages are dropped.
   *
   * @param {number} [code]
   * @param {string} [reason]
   */
  close(code = 1000, reason = '') {
    if (this.#closed) return;
    const socket = this.#socket;
    this.#detach();
    if (socket && socket.readyState <= OPEN) socket.close(code, reason);
    this.#finish({ code, reason, class: 'terminal', kind: 'client-closed', status: null, retryAfterMs: null }, false);
  }

  /**
   * Skips the rest of the current reconnect delay and tries now (say, the network came back, or the user pressed a
   * button). Returns false when the client is not waiting to reconnect.
   *
   * @returns {boolean}
   */
  reconnectNow() {
    if (this.#closed || this.#retryTimer == null) return false;
    this.#clock.clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
    void this.#attemptConnection();
    return true;
  }

  // ---------------------------------------------------------------------------------------------------------------

  async #attemptConnection() {
    const generation = ++this.#generation;
    this.#retryTimer = null;
    this.#setState(this.#state === 'connecting' ? 'connecting' : 'reconnecting');
    if (this.#preview) {
      const failure = await this.#askPreview(generation);
      if (generation !== this.#generation) return;
      if (failure) {
        this.#failed(failure);
        return;
      }
    }
    this.#open(generation);
  }

  /**
   * The admission preview: null when an upgrade would be admitted now, else why not.
   *
   * @param {number} generation
   * @returns {Promise<Failure | null>}
   */
  async #askPreview(generation) {
    const abort = new AbortController();
    const timer = this.#clock.setTimeout(() => abort.abort(), this.#openTimeoutMs);
    /** @type {Response} */
    let response;
    /** @type {unknown} */
    let body;
    try {
      response = await /** @type {typeof fetch} */ (this.#fetch)(this.#previewUrl, {
        method: 'GET',
        headers: { Accept: 'application/json' },
        credentials: this.#credentials,
        cache: 'no-store',
        signal: abort.signal,
      });
      body = await readJson(response);
    } catch (error) {
      return {
        class: 'backoff', kind: 'unreachable', code: null, status: null, retryAfterMs: null,
        reason: abort.signal.aborted ? 'The admission preview timed out.' : `The admission preview failed: ${messageOf(error)}`,
      };
    } finally {
      this.#clock.clearTimeout(timer);
    }
    if (generation !== this.#generation) return null;
    if (response.ok) {
      this.#admission = body ?? null;
      return null;
    }

    const classification = classifyRefusal(response.status);
    const problem = body && typeof body === 'object' ? /** @type {Record<string, unknown>} */ (body) : {};
    const retryAfterMs = parseRetryAfter(response.headers.get('Retry-After'), this.#clock.now());
    const detail = typeof problem.detail === 'string' ? problem.detail : '';
    /** @type {RefusedDetail} */
    const refused = {
      status: response.status,
      reason: typeof problem.reason === 'string' ? problem.reason : null,
      limit: typeof problem.limit === 'number' ? problem.limit : null,
      current: typeof problem.current === 'number' ? problem.current : null,
      title: typeof problem.title === 'string' ? problem.title : '',
      detail,
      retryAfterMs,
      class: classification.class,
      kind: classification.kind,
      problem: body ?? null,
    };
    this.#dispatch('refused', refused);
    return { ...classification, code: null, reason: detail || refused.title, status: response.status, retryAfterMs };
  }

  /** @param {number} generation */
  #open(generation) {
    /** @type {WebSocket} */
    let socket;
    try {
      const offers = this.#offers();
      socket = offers === undefined
        ? new this.#WebSocket(this.#socketUrl())
        : new this.#WebSocket(this.#socketUrl(), offers);
    } catch (error) {
      // The URL and the protocols were refused synchronously (a malformed subprotocol, a blocked port): no retry fixes it.
      this.#failed({ class: 'terminal', kind: 'invalid-request', code: null, reason: messageOf(error), status: null, retryAfterMs: null });
      return;
    }
    this.#socket = socket;
    socket.binaryType = this.#binaryType;
    let opened = false;
    // A handshake that hangs fails like a dropped one (1006).
    this.#openTimer = this.#clock.setTimeout(() => {
      if (this.#socket === socket && !opened) this.#socketEnded(socket, 1006, 'The handshake timed out.');
    }, this.#openTimeoutMs);

    const presented = this.#token !== null;
    const becomeOpen = () => {
      const attempt = this.#attempt;
      this.#setState('open');
      this.#stableTimer = this.#clock.setTimeout(() => {
        if (this.#socket === socket) this.#attempt = 0;
      }, this.#stableAfterMs);
      this.#flush(socket);
      this.#dispatch('open', { protocol: appProtocol(socket.protocol), attempt, admission: this.#admission, resumed: this.#framed && presented });
    };
    socket.addEventListener('open', () => {
      if (this.#socket !== socket || generation !== this.#generation) return;
      opened = true;
      this.#clock.clearTimeout(this.#openTimer);
      this.#framed = this.#resume && isResumeProtocol(socket.protocol);
      // Under the resume protocol the connection is open once the session frame says which session it is.
      if (!this.#framed) becomeOpen();
    });
    socket.addEventListener('message', (event) => {
      if (this.#socket !== socket) return;
      if (!this.#framed) {
        this.#dispatch('message', { data: event.data });
        return;
      }
      const frame = readFrame(event.data);
      if (frame.kind === 's') {
        if (!presented) { this.#last = 0; this.#acked = 0; }
        this.#token = frame.token;
        if (this.#state !== 'open') becomeOpen();
      } else if (frame.kind === 'm') {
        if (frame.sequence <= this.#last) return; // already delivered
        this.#last = frame.sequence;
        this.#dispatch('message', { data: frame.payload });
        this.#scheduleAck(socket);
      }
    });
    socket.addEventListener('error', () => {
      // A refused or failed handshake: some runtimes (Node 20's WebSocket) report only an error and no close.
      // Once open, a close event always follows the error and carries the code.
      if (!opened) this.#socketEnded(socket, 1006, '');
    });
    socket.addEventListener('close', (event) => this.#socketEnded(socket, event.code, event.reason));
  }

  /**
   * @param {WebSocket} socket
   * @param {number} code
   * @param {string} reason
   */
  #socketEnded(socket, code, reason) {
    if (this.#socket !== socket) return; // one we already let go of
    this.#detach();
    // Only a drop (no close frame) leaves a session held on the server; 4004 says it is gone.
    if (code !== 1006) this.#token = null;
    if (socket.readyState <= OPEN) socket.close();
    const classification = classifyClose(code);
    this.#failed({ ...classification, code, reason, status: null, retryAfterMs: null });
  }

  /** @param {Failure} failure */
  #failed(failure) {
    if (this.#closed) return;
    if (failure.class === 'terminal') {
      this.#finish(failure, false);
      return;
    }
    this.#attempt += 1;
    if (this.#attempt > this.#maxAttempts) {
      this.#finish(failure, true);
      return;
    }
    const delayMs = reconnectDelay(failure.class, this.#attempt, this.#backoff, this.#random, failure.retryAfterMs);
    this.#setState('reconnecting');
    const generation = ++this.#generation;
    this.#retryTimer = this.#clock.setTimeout(() => {
      if (generation === this.#generation) void this.#attemptConnection();
    }, delayMs);
    this.#dispatch('reconnecting', {
      attempt: this.#attempt,
      delayMs,
      class: failure.class,
      kind: failure.kind,
      code: failure.code,
      reason: failure.reason,
      status: failure.status,
      retryAfterMs: failure.retryAfterMs,
    });
  }

  /**
   * @param {Failure} failure
   * @param {boolean} exhausted
   */
  #finish(failure, exhausted) {
    this.#detach();
    this.#generation += 1;
    if (this.#retryTimer != null) this.#clock.clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
    const unsent = this.#queue.length;
    this.#queue = [];
    this.#queueSizes = [];
    this.#queuedBytes = 0;
    this.#closed = {
      code: failure.code,
      reason: failure.reason,
      class: failure.class,
      kind: failure.kind,
      status: failure.status,
      exhausted,
      unsent,
    };
    this.#setState('closed');
    this.#dispatch('closed', this.#closed);
  }

  /** Lets go of the current socket (its later events are ignored) and its timers. */
  #detach() {
    this.#socket = null;
    this.#clock.clearTimeout(this.#ackTimer);
    this.#ackTimer = null;
    this.#clock.clearTimeout(this.#openTimer);
    this.#clock.clearTimeout(this.#stableTimer);
    this.#openTimer = null;
    this.#stableTimer = null;
  }

  /** @param {WebSocket} socket */
  #flush(socket) {
    while (this.#queue.length > 0 && this.#socket === socket && socket.readyState === OPEN) {
      const data = /** @type {SendData} */ (this.#queue.shift());
      this.#queuedBytes -= /** @type {number} */ (this.#queueSizes.shift());
      this.#write(socket, data);
    }
  }

  /** The offers of the handshake: with `resume`, each app protocol wrapped first, then the plain ones. */
  #offers() {
    if (!this.#resume) return this.#protocols;
    const app = this.#protocols === undefined ? [] : [this.#protocols].flat();
    return app.length === 0 ? [RESUME_PROTOCOL] : [...app.map((p) => `${RESUME_PROTOCOL}+${p}`), ...app];
  }

  /** The socket's URL: with a session to resume, its token and the last sequence received. */
  #socketUrl() {
    if (this.#token === null) return this.#url;
    const url = new URL(this.#url);
    url.searchParams.set('ws-resume-token', this.#token);
    url.searchParams.set('ws-resume-last', String(this.#last));
    return url.href;
  }

  /**
   * Cumulative acks in batches: at once after 32 unacknowledged messages, else one second after the first.
   *
   * @param {WebSocket} socket
   */
  #scheduleAck(socket) {
    if (this.#last - this.#acked >= ACK_EVERY) {
      this.#ack(socket);
      return;
    }
    if (this.#ackTimer == null) {
      this.#ackTimer = this.#clock.setTimeout(() => { this.#ackTimer = null; this.#ack(socket); }, ACK_DELAY_MS);
    }
  }

  /** @param {WebSocket} socket */
  #ack(socket) {
    if (this.#socket !== socket || socket.readyState !== OPEN || this.#last <= this.#acked) return;
    this.#clock.clearTimeout(this.#ackTimer);
    this.#ackTimer = null;
    this.#acked = this.#last;
    socket.send(`a ${this.#last}\n`);
  }

  /**
   * @param {WebSocket} socket
   * @param {SendData} data
   */
  #write(socket, data) {
    socket.send(/** @type {any} */ (this.#framed ? framed(data) : data));
  }

  /** @param {ClientState} state */
  #setState(state) {
    this.#state = state;
  }

  /**
   * @param {string} type
   * @param {unknown} detail
   */
  #dispatch(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}

/**
 * Opens a client to a WebSocketPool endpoint. It starts connecting at once (after the current task, so listeners
 * added right away see every event).
 *
 * @example
 * const client = connect('/ws');
 * client.addEventListener('message', (e) => console.log(e.detail.data));
 * client.addEventListener('closed', (e) => console.log('stopped:', e.detail.kind));
 * client.send(JSON.stringify({ type: 'chat', text: 'hi' }));
 *
 * @param {string | URL} url
 * @param {ConnectOptions} [options]
 * @returns {PoolClient}
 */
export function connect(url, options) {
  return new PoolClient(url, options);
}

const OPEN = 1;
const RESUME_PROTOCOL = 'websocketpool.resume.v1';
const ACK_EVERY = 32;
const ACK_DELAY_MS = 1000;
const NEWLINE = 10;

/** @param {string} protocol */
function isResumeProtocol(protocol) {
  return protocol === RESUME_PROTOCOL || protocol.startsWith(`${RESUME_PROTOCOL}+`);
}

/**
 * The app's subprotocol inside the resume protocol's ('' for the bare one).
 *
 * @param {string} protocol
 */
function appProtocol(protocol) {
  if (!isResumeProtocol(protocol)) return protocol;
  return protocol.slice(RESUME_PROTOCOL.length + 1);
}

/**
 * Reads a frame of the resume protocol: the header line, then the app's payload.
 *
 * @param {string | ArrayBuffer} data
 * @returns {{ kind: 's', token: string } | { kind: 'm', sequence: number, payload: string | ArrayBuffer } | { kind: '' }}
 */
function readFrame(data) {
  /** @type {string} */ let header;
  /** @type {string | ArrayBuffer} */ let payload;
  if (typeof data === 'string') {
    const end = data.indexOf('\n');
    if (end < 0) return { kind: '' };
    header = data.slice(0, end);
    payload = data.slice(end + 1);
  } else {
    const bytes = new Uint8Array(data);
    const end = bytes.indexOf(NEWLINE);
    if (end < 0) return { kind: '' };
    header = String.fromCharCode(...bytes.subarray(0, end));
    payload = data.slice(end + 1);
  }
  const fields = header.split(' ');
  if (fields[0] === 's' && fields.length === 3) return { kind: 's', token: fields[1] };
  if (fields[0] === 'm' && fields.length === 2) return { kind: 'm', sequence: Number(fields[1]), payload };
  return { kind: '' };
}

/**
 * An app message with the resume protocol's header in front (`m` and a newline), in the message's own type.
 *
 * @param {SendData} data
 * @returns {SendData}
 */
function framed(data) {
  if (typeof data === 'string') return `m\n${data}`;
  if (typeof Blob !== 'undefined' && data instanceof Blob) return new Blob([MESSAGE_HEADER, data]);
  const view = ArrayBuffer.isView(data)
    ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
    : new Uint8Array(/** @type {ArrayBufferLike} */ (data));
  const result = new Uint8Array(view.byteLength + MESSAGE_HEADER.byteLength);
  result.set(MESSAGE_HEADER, 0);
  result.set(view, MESSAGE_HEADER.byteLength);
  return result;
}

const MESSAGE_HEADER = new Uint8Array([0x6d, NEWLINE]);

/** @param {string} name @param {number} value */
function positive(name, value) {
  if (!(typeof value === 'number' && value > 0)) throw new RangeError(`${name} must be a number above 0, not ${value}.`);
}

/** @param {string} name @param {number} value */
function notNegative(name, value) {
  if (!(typeof value === 'number' && value >= 0)) throw new RangeError(`${name} must be a number of at least 0, not ${value}.`);
}

/**
 * @template {object} T
 * @param {T | undefined} value
 * @returns {Partial<T>}
 */
function definedOnly(value) {
  /** @type {Record<string, unknown>} */
  const result = {};
  for (const [key, item] of Object.entries(value ?? {})) if (item !== undefined) result[key] = item;
  return /** @type {Partial<T>} */ (result);
}

/** @param {Response} response */
async function readJson(response) {
  const text = await response.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/** @param {unknown} error */
function messageOf(error) {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Bytes a message takes on the wire: UTF-8 for text.
 *
 * @param {SendData} data
 */
export function byteSize(data) {
  if (typeof data === 'string') {
    let bytes = 0;
    for (let i = 0; i < data.length; i++) {
      const unit = data.charCodeAt(i);
      if (unit < 0x80) bytes += 1;
      else if (unit < 0x800) bytes += 2;
      else if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < data.length) {
        const next = data.charCodeAt(i + 1);
        if (next >= 0xdc00 && next <= 0xdfff) { bytes += 4; i++; } else bytes += 3;
      } else bytes += 3;
    }
    return bytes;
  }
  if (typeof Blob !== 'undefined' && data instanceof Blob) return data.size;
  return /** @type {ArrayBufferLike | ArrayBufferView} */ (data).byteLength;
}
