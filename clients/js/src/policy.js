// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

/**
 * The reconnect policy: what each close code and each refusal means, and how long to wait before the next attempt.
 * Pure functions of their arguments (the random source is passed in), so the same table and the same delays hold in
 * every client and are tested without a clock.
 *
 * @module
 */

/**
 * What the client does after a close or a refusal:
 * - `terminal`: stops and reports why; only the app can start again.
 * - `backoff`: reconnects after an exponential, fully jittered delay (at least the server's `Retry-After`).
 * - `prompt`: reconnects after a short jittered delay (a drained or restarted node: come back soon, not all at once).
 *
 * @typedef {'terminal' | 'backoff' | 'prompt'} CloseClass
 */

/**
 * A close code's or a refusal's class and a stable name for it (for messages and logs).
 *
 * @typedef {object} Classification
 * @property {CloseClass} class What the client does about it.
 * @property {string} kind A stable name, e.g. `evicted`, `kicked`, `going-away`, `too-many-connections`.
 */

/** @type {ReadonlyMap<number, Classification>} */
const CLOSE_CODES = new Map([
  [1000, { class: 'terminal', kind: 'normal' }],              // the server ended the connection on purpose
  [1001, { class: 'prompt', kind: 'going-away' }],            // the server is draining on shutdown
  [1002, { class: 'terminal', kind: 'protocol-error' }],
  [1003, { class: 'terminal', kind: 'unsupported-data' }],
  [1005, { class: 'backoff', kind: 'no-status' }],
  [1006, { class: 'backoff', kind: 'abnormal' }],             // dropped, or the handshake failed
  [1007, { class: 'terminal', kind: 'invalid-payload' }],
  [1008, { class: 'backoff', kind: 'policy-violation' }],     // e.g. sending too fast
  [1009, { class: 'terminal', kind: 'message-too-big' }],
  [1011, { class: 'backoff', kind: 'internal-error' }],
  [1012, { class: 'prompt', kind: 'service-restart' }],
  [1013, { class: 'backoff', kind: 'try-again-later' }],
  [4001, { class: 'terminal', kind: 'evicted' }],             // replaced by a newer connection of the same user
  [4002, { class: 'backoff', kind: 'slow-consumer' }],
  [4003, { class: 'terminal', kind: 'kicked' }],
  [4004, { class: 'prompt', kind: 'resume-refused' }],
  [4005, { class: 'terminal', kind: 'authentication-expired' }], // sign in again (or get a fresh token) first
]);

/** @type {ReadonlyMap<number, Classification>} */
const REFUSAL_STATUSES = new Map([
  [401, { class: 'terminal', kind: 'unauthenticated' }],
  [403, { class: 'terminal', kind: 'forbidden' }],
  [429, { class: 'backoff', kind: 'too-many-connections' }],
  [503, { class: 'backoff', kind: 'unavailable' }],
]);

/**
 * Classifies a close code. Codes outside the table: 1000-2999 and 3000-4999 that the pool does not send are
 * `backoff` (`unknown`): a reconnect that the app did not forbid, slowed down so that an unexpected close in a loop
 * costs little.
 *
 * @param {number} code The close code of the WebSocket's close event.
 * @returns {Classification}
 */
export function classifyClose(code) {
  return CLOSE_CODES.get(code) ?? { class: 'backoff', kind: 'unknown' };
}

/**
 * Classifies an HTTP refusal of the admission preview (any status but 2xx). Besides the table, another 4xx is
 * `terminal` (the request itself is wrong, e.g. 400 for an invalid user key; retrying changes nothing) and another 5xx
 * is `backoff`.
 *
 * @param {number} status The HTTP status.
 * @returns {Classification}
 */
export function classifyRefusal(status) {
  const known = REFUSAL_STATUSES.get(status);
  if (known) return known;
  if (status >= 500) return { class: 'backoff', kind: 'server-error' };
  return { class: 'terminal', kind: 'refused' };
}

/**
 * Reconnect timing. All in milliseconds.
 *
 * @typedef {object} BackoffOptions
 * @property {number} [initialDelayMs] Ceiling of the first backoff delay. Default 500.
 * @property {number} [maxDelayMs] Largest ceiling. Default 30000.
 * @property {number} [factor] Growth of the ceiling per failed attempt. Default 2.
 * @property {number} [promptDelayMs] Ceiling of the short delay of the `prompt` class. Default 1000.
 */

/** @type {Required<BackoffOptions>} */
export const DEFAULT_BACKOFF = Object.freeze({
  initialDelayMs: 500,
  maxDelayMs: 30_000,
  factor: 2,
  promptDelayMs: 1000,
});

/**
 * The delay before reconnect attempt `attempt` (1 for the first reconnect after a failure).
 * - `backoff`: full jitter, `random() * min(maxDelayMs, initialDelayMs * factor^(attempt-1))`, and never less than
 *   `retryAfterMs` when the server sent `Retry-After` (a floor, not a replacement: clients told the same value
 *   still spread out once their ceiling is above it).
 * - `prompt`: `random() * promptDelayMs`, or `retryAfterMs` if that is larger.
 * - `terminal`: no reconnect; the function is not called for it.
 *
 * @param {Exclude<CloseClass, 'terminal'>} closeClass
 * @param {number} attempt Consecutive attempts so far, 1-based.
 * @param {Required<BackoffOptions>} options
 * @param {() => number} random A source in [0, 1).
 * @param {number | null} [retryAfterMs] The server's Retry-After in milliseconds, if any.
 * @returns {number} Milliseconds, rounded down to a whole number.
 */
export function reconnectDelay(closeClass, attempt, options, random, retryAfterMs = null) {
  const floor = retryAfterMs != null && retryAfterMs > 0 ? retryAfterMs : 0;
  if (closeClass === 'prompt') {
    return Math.floor(Math.max(floor, random() * options.promptDelayMs));
  }
  const exponent = Math.max(0, attempt - 1);
  const ceiling = Math.min(options.maxDelayMs, options.initialDelayMs * options.factor ** exponent);
  return Math.floor(Math.max(floor, random() * ceiling));
}

/**
 * Parses a `Retry-After` header: delta-seconds or an HTTP date (relative to `nowMs`).
 *
 * @param {string | null | undefined} value The header's value.
 * @param {number} nowMs The current time, in milliseconds since the epoch.
 * @returns {number | null} Milliseconds to wait, or null when absent or unreadable.
 */
export function parseRetryAfter(value, nowMs) {
  if (value == null) return null;
  const text = value.trim();
  if (!text) return null;
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  if (!/^[A-Za-z]{3},/.test(text)) return null; // an HTTP date starts with the day's name; anything else is unreadable
  const date = Date.parse(text);
  return Number.isNaN(date) ? null : Math.max(0, date - nowMs);
}
