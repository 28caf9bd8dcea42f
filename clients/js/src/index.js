// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

/**
 * The JavaScript client of WebSocketPool: a WebSocket that understands the pool's admission preview, `Retry-After`
 * and close codes, and reconnects by them.
 *
 * @module
 */

export { PoolClient, connect, byteSize } from './client.js';
export { PoolClientError, SendQueueFullError, ClientClosedError } from './errors.js';
export { classifyClose, classifyRefusal, reconnectDelay, parseRetryAfter, DEFAULT_BACKOFF } from './policy.js';
