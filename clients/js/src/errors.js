// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

/** The base of the errors the client throws; `code` tells them apart without `instanceof`. */
export class PoolClientError extends Error {
  /**
   * @param {string} message
   * @param {'queue-full' | 'client-closed'} code
   */
  constructor(message, code) {
    super(message);
    this.name = 'PoolClientError';
    /** @readonly */
    this.code = code;
  }
}

/**
 * `send` while not connected, with the send queue at its bound (`queue.maxMessages` or `queue.maxBytes`): the message
 * was not queued and will not be sent.
 */
export class SendQueueFullError extends PoolClientError {
  /**
   * @param {{ messageBytes: number, queuedMessages: number, queuedBytes: number, maxMessages: number, maxBytes: number }} state
   */
  constructor(state) {
    super(`Not connected and the send queue is full (${state.queuedMessages} of ${state.maxMessages} messages, ` +
      `${state.queuedBytes} of ${state.maxBytes} bytes; this message has ${state.messageBytes}): the message was not sent.`,
    'queue-full');
    this.name = 'SendQueueFullError';
    /** Size of the refused message, in bytes (UTF-8 for text). @readonly */
    this.messageBytes = state.messageBytes;
    /** Messages waiting for the connection. @readonly */
    this.queuedMessages = state.queuedMessages;
    /** Bytes waiting for the connection. @readonly */
    this.queuedBytes = state.queuedBytes;
    /** The queue's bound in messages. @readonly */
    this.maxMessages = state.maxMessages;
    /** The queue's bound in bytes. @readonly */
    this.maxBytes = state.maxBytes;
  }
}

/** `send` after the client stopped (`close()`, a terminal close code or refusal, or the last attempt failed). */
export class ClientClosedError extends PoolClientError {
  /** @param {string} why */
  constructor(why) {
    super(`The client is closed (${why}): the message was not sent.`, 'client-closed');
    this.name = 'ClientClosedError';
  }
}
