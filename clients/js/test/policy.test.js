// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

// The close-code table and the delays, as pure functions: the same table the .NET client keeps.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_BACKOFF, classifyClose, classifyRefusal, parseRetryAfter, reconnectDelay } from '../src/index.js';

describe('classifyClose', () => {
  const table = {
    terminal: [1000, 1002, 1003, 1007, 1009, 4001, 4003, 4005],
    backoff: [1005, 1006, 1008, 1011, 1013, 4002],
    prompt: [1001, 1012, 4004],
  };
  for (const [closeClass, codes] of Object.entries(table)) {
    for (const code of codes) {
      it(`${code} is ${closeClass}`, () => assert.equal(classifyClose(code).class, closeClass));
    }
  }

  it('names the pool\'s own codes', () => {
    assert.equal(classifyClose(4001).kind, 'evicted');
    assert.equal(classifyClose(4003).kind, 'kicked');
    assert.equal(classifyClose(4002).kind, 'slow-consumer');
    assert.equal(classifyClose(4004).kind, 'resume-refused');
    assert.equal(classifyClose(1001).kind, 'going-away');
    assert.equal(classifyClose(1009).kind, 'message-too-big');
  });

  it('treats a code outside the table as backoff', () => {
    for (const code of [1010, 1014, 1015, 3000, 4000, 4006, 4999]) {
      assert.deepEqual(classifyClose(code), { class: 'backoff', kind: 'unknown' }, String(code));
    }
  });
});

describe('classifyRefusal', () => {
  it('follows the table', () => {
    assert.deepEqual(classifyRefusal(401), { class: 'terminal', kind: 'unauthenticated' });
    assert.deepEqual(classifyRefusal(403), { class: 'terminal', kind: 'forbidden' });
    assert.deepEqual(classifyRefusal(429), { class: 'backoff', kind: 'too-many-connections' });
    assert.deepEqual(classifyRefusal(503), { class: 'backoff', kind: 'unavailable' });
  });

  it('stops on another 4xx and backs off on another 5xx', () => {
    assert.equal(classifyRefusal(400).class, 'terminal');
    assert.equal(classifyRefusal(404).class, 'terminal');
    assert.equal(classifyRefusal(500).class, 'backoff');
    assert.equal(classifyRefusal(502).class, 'backoff');
  });
});

describe('reconnectDelay', () => {
  const options = { ...DEFAULT_BACKOFF };
  const top = () => 0.999999;

  it('doubles the ceiling per attempt up to the maximum', () => {
    const ceilings = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((attempt) => reconnectDelay('backoff', attempt, options, top) + 1);
    assert.deepEqual(ceilings, [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000, 30000]);
  });

  it('draws the delay uniformly below the ceiling (full jitter)', () => {
    assert.equal(reconnectDelay('backoff', 3, options, () => 0), 0);
    assert.equal(reconnectDelay('backoff', 3, options, () => 0.25), 500);
    assert.equal(reconnectDelay('backoff', 3, options, () => 0.5), 1000);
  });

  it('follows initialDelayMs, factor and maxDelayMs', () => {
    const custom = { ...options, initialDelayMs: 100, factor: 3, maxDelayMs: 1000 };
    assert.deepEqual([1, 2, 3, 4].map((a) => reconnectDelay('backoff', a, custom, top) + 1), [100, 300, 900, 1000]);
  });

  it('never waits less than Retry-After', () => {
    assert.equal(reconnectDelay('backoff', 1, options, () => 0.5, 5000), 5000);
    assert.equal(reconnectDelay('backoff', 7, options, () => 0.5, 5000), 15000);
    assert.equal(reconnectDelay('prompt', 1, options, () => 0.5, 3000), 3000);
  });

  it('keeps the prompt class short and jittered whatever the attempt', () => {
    assert.equal(reconnectDelay('prompt', 1, options, () => 0.5), 500);
    assert.equal(reconnectDelay('prompt', 9, options, () => 0.5), 500);
    assert.equal(reconnectDelay('prompt', 9, options, top), 999);
    assert.equal(reconnectDelay('prompt', 9, { ...options, promptDelayMs: 200 }, () => 0.5), 100);
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2026-11-30T01:00:00Z');
  it('reads delta-seconds', () => assert.equal(parseRetryAfter('5', now), 5000));
  it('reads an HTTP date', () => assert.equal(parseRetryAfter('Mon, 30 Nov 2026 01:00:07 GMT', now), 7000));
  it('never goes below 0', () => assert.equal(parseRetryAfter('Mon, 30 Nov 2026 00:59:00 GMT', now), 0));
  it('ignores what it cannot read', () => {
    assert.equal(parseRetryAfter(null, now), null);
    assert.equal(parseRetryAfter('', now), null);
    assert.equal(parseRetryAfter('soon', now), null);
    assert.equal(parseRetryAfter('-3', now), null);
  });
});
