// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

// The client's state machine against a WebSocket and a preview played by the test, with a clock that fires only when
// told: the delays asserted are the ones the client computed, never elapsed time.

import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import { ClientClosedError, SendQueueFullError, connect } from '../src/index.js';
import { FakeWebSocket, ManualClock, recorder, scriptedFetch, settle } from './support/fakes.js';

/** @param {object} [options] */
function start(options = {}) {
  const clock = new ManualClock();
  const client = connect('ws://127.0.0.1:1/ws?user=a', {
    WebSocket: /** @type {any} */ (FakeWebSocket),
    clock,
    random: () => 0.5,
    preview: false,
    ...options,
  });
  return { client, clock, events: recorder(client) };
}

beforeEach(() => FakeWebSocket.reset());

describe('connect', () => {
  it('opens the socket with the subprotocols and reports the chosen one', async () => {
    const { client, events } = start({ protocols: ['chat.v2', 'chat.v1'] });
    await settle();
    assert.deepEqual(FakeWebSocket.last.protocols, ['chat.v2', 'chat.v1']);
    assert.equal(FakeWebSocket.last.url, 'ws://127.0.0.1:1/ws?user=a');
    assert.equal(FakeWebSocket.last.binaryType, 'arraybuffer');
    FakeWebSocket.last.accept('chat.v1');
    assert.equal(client.state, 'open');
    assert.equal(client.protocol, 'chat.v1');
    assert.deepEqual(events.of('open'), [{ protocol: 'chat.v1', attempt: 0, admission: null, resumed: false }]);
    FakeWebSocket.last.message('hi');
    assert.deepEqual(events.of('message'), [{ data: 'hi' }]);
    client.close();
  });

  it('turns http URLs into ws URLs and previews over http', async () => {
    const fetch = scriptedFetch([{ status: 200, body: { user: 'a', connections: 0, limit: 5 } }]);
    const { client, events } = start({ preview: true, fetch });
    await settle();
    assert.equal(fetch.calls[0].url, 'http://127.0.0.1:1/ws?user=a');
    assert.equal(fetch.calls[0].init?.method, 'GET');
    FakeWebSocket.last.accept();
    assert.deepEqual(events.of('open')[0].admission, { user: 'a', connections: 0, limit: 5 });
    client.close();

    const other = connect('https://example.test/ws', { WebSocket: /** @type {any} */ (FakeWebSocket), preview: false });
    assert.equal(other.url, 'wss://example.test/ws');
    other.close();
  });

  it('validates its options', () => {
    const WebSocket = /** @type {any} */ (FakeWebSocket);
    assert.throws(() => connect('ftp://x/ws', { WebSocket }), TypeError);
    assert.throws(() => connect('ws://x/ws', { WebSocket, backoff: { initialDelayMs: 0 } }), RangeError);
    assert.throws(() => connect('ws://x/ws', { WebSocket, backoff: { initialDelayMs: 1000, maxDelayMs: 10 } }), RangeError);
    assert.throws(() => connect('ws://x/ws', { WebSocket, backoff: { factor: 0.5 } }), RangeError);
    assert.throws(() => connect('ws://x/ws', { WebSocket, maxAttempts: 0 }), RangeError);
    assert.throws(() => connect('ws://x/ws', { WebSocket, queue: { maxBytes: -1 } }), RangeError);
  });
});

describe('reconnects', () => {
  it('backs off exponentially with full jitter on 1006, and resets once a connection is stable', async () => {
    const { client, clock, events } = start();
    await settle();
    FakeWebSocket.last.accept();
    FakeWebSocket.last.closeFromServer(1006);
    assert.equal(client.state, 'reconnecting');
    for (const expected of [250, 500, 1000, 2000]) {
      const last = events.of('reconnecting').at(-1);
      assert.equal(last.delayMs, expected);
      assert.equal(last.class, 'backoff');
      assert.equal(last.code, 1006);
      clock.fire(expected);
      await settle();
      FakeWebSocket.last.failHandshake(); // Node 20: an error and no close event
    }
    assert.deepEqual(events.of('reconnecting').map((r) => r.attempt), [1, 2, 3, 4, 5]);
    assert.equal(events.of('reconnecting').at(-1).delayMs, 4000);

    clock.fire(4000);
    await settle();
    FakeWebSocket.last.accept();
    assert.equal(events.of('open').at(-1).attempt, 5);
    clock.fire(5000); // stableAfterMs
    FakeWebSocket.last.closeFromServer(1011);
    assert.deepEqual(events.of('reconnecting').at(-1), {
      attempt: 1, delayMs: 250, class: 'backoff', kind: 'internal-error', code: 1011, reason: '', status: null, retryAfterMs: null,
    });
    client.close();
  });

  it('keeps counting when a connection drops before it is stable', async () => {
    const { client, clock, events } = start();
    await settle();
    FakeWebSocket.last.accept();
    FakeWebSocket.last.closeFromServer(4002, 'slow');
    clock.fire(250);
    await settle();
    FakeWebSocket.last.accept();
    FakeWebSocket.last.closeFromServer(4002, 'slow');
    assert.deepEqual(events.of('reconnecting').map((r) => [r.attempt, r.delayMs, r.kind]), [[1, 250, 'slow-consumer'], [2, 500, 'slow-consumer']]);
    client.close();
  });

  it('comes back after a short jittered delay on the prompt codes', async () => {
    for (const code of [1001, 1012, 4004]) {
      const { client, clock, events } = start({ random: () => 0.3 });
      await settle();
      for (let i = 0; i < 3; i++) {
        FakeWebSocket.last.accept();
        FakeWebSocket.last.closeFromServer(code);
        clock.fire(300);
        await settle();
      }
      assert.deepEqual(events.of('reconnecting').map((r) => [r.class, r.delayMs]), [['prompt', 300], ['prompt', 300], ['prompt', 300]], String(code));
      client.close();
    }
  });

  it('fails a handshake that hangs after openTimeoutMs, like a drop', async () => {
    const { client, clock, events } = start({ openTimeoutMs: 2000 });
    await settle();
    const hanging = FakeWebSocket.last;
    clock.fire(2000);
    assert.equal(events.of('reconnecting')[0].code, 1006);
    assert.equal(events.of('reconnecting')[0].reason, 'The handshake timed out.');
    assert.ok(hanging.closedByClient);
    client.close();
  });

  it('stops after maxAttempts consecutive failures', async () => {
    const { client, clock, events } = start({ maxAttempts: 2 });
    await settle();
    FakeWebSocket.last.failHandshake();
    clock.fire(250);
    await settle();
    FakeWebSocket.last.failHandshake();
    clock.fire(500);
    await settle();
    FakeWebSocket.last.failHandshake();
    assert.equal(client.state, 'closed');
    assert.deepEqual(events.of('closed'), [{ code: 1006, reason: '', class: 'backoff', kind: 'abnormal', status: null, exhausted: true, unsent: 0 }]);
    assert.deepEqual(clock.pending(), []);
  });

  it('tries at once on reconnectNow', async () => {
    const { client, clock } = start();
    await settle();
    FakeWebSocket.last.closeFromServer(1006);
    assert.deepEqual(clock.pending(), [250]);
    assert.equal(client.reconnectNow(), true);
    await settle();
    assert.equal(FakeWebSocket.instances.length, 2);
    assert.equal(client.reconnectNow(), false);
    client.close();
  });
});

describe('stops', () => {
  for (const [code, kind] of [[4001, 'evicted'], [4003, 'kicked'], [1002, 'protocol-error'], [1007, 'invalid-payload'], [1009, 'message-too-big'], [1000, 'normal'], [4005, 'authentication-expired']]) {
    it(`on ${code} (${kind}) without reconnecting`, async () => {
      const { client, clock, events } = start();
      await settle();
      FakeWebSocket.last.accept();
      FakeWebSocket.last.closeFromServer(code, 'why');
      assert.equal(client.state, 'closed');
      assert.deepEqual(events.of('closed'), [{ code, reason: 'why', class: 'terminal', kind, status: null, exhausted: false, unsent: 0 }]);
      assert.deepEqual(events.of('reconnecting'), []);
      assert.deepEqual(clock.pending(), []);
      assert.throws(() => client.send('x'), ClientClosedError);
    });
  }

  it('on the app\'s own close(), with its code, and drops the queue', async () => {
    const { client, clock, events } = start();
    await settle();
    client.send('later');
    const socket = FakeWebSocket.last;
    client.close(4100, 'bye');
    assert.deepEqual(socket.closedByClient, { code: 4100, reason: 'bye' });
    assert.deepEqual(events.of('closed'), [{ code: 4100, reason: 'bye', class: 'terminal', kind: 'client-closed', status: null, exhausted: false, unsent: 1 }]);
    socket.closeFromServer(1006); // late events of a socket let go are ignored
    assert.equal(events.of('reconnecting').length, 0);
    assert.deepEqual(clock.pending(), []);
  });
});

describe('preview', () => {
  it('reports a 429 with its problem and waits at least Retry-After', async () => {
    const problem = { type: 'urn:websocketpool:problem:user_limit', title: 'Too many connections', status: 429, detail: 'You have 1 of 1 allowed connections open.', reason: 'user_limit', limit: 1, current: 1 };
    const fetch = scriptedFetch([
      { status: 429, body: problem, headers: { 'content-type': 'application/problem+json', 'retry-after': '5' } },
      { status: 200, body: { user: 'a', connections: 0, limit: 1 } },
    ]);
    const { client, clock, events } = start({ preview: true, fetch });
    await settle();
    assert.equal(FakeWebSocket.instances.length, 0); // no handshake while refused
    assert.deepEqual(events.of('refused'), [{
      status: 429, reason: 'user_limit', limit: 1, current: 1, title: 'Too many connections', detail: problem.detail,
      retryAfterMs: 5000, class: 'backoff', kind: 'too-many-connections', problem,
    }]);
    const reconnecting = events.of('reconnecting')[0];
    assert.equal(reconnecting.delayMs, 5000);
    assert.equal(reconnecting.status, 429);
    clock.fire(5000);
    await settle();
    FakeWebSocket.last.accept();
    assert.equal(client.state, 'open');
    client.close();
  });

  it('stops on 401 and 403', async () => {
    for (const status of [401, 403]) {
      const fetch = scriptedFetch([{ status, body: { title: 'No', detail: 'Sign in.', status } }]);
      const { client, clock, events } = start({ preview: true, fetch });
      await settle();
      assert.equal(client.state, 'closed');
      assert.equal(events.of('refused')[0].class, 'terminal');
      assert.deepEqual(events.of('closed'), [{ code: null, reason: 'Sign in.', class: 'terminal', kind: status === 401 ? 'unauthenticated' : 'forbidden', status, exhausted: false, unsent: 0 }]);
      assert.deepEqual(clock.pending(), []);
      assert.equal(FakeWebSocket.instances.length, 0);
    }
  });

  it('backs off when the preview cannot reach the server', async () => {
    const fetch = scriptedFetch([]);
    const { client, events } = start({ preview: true, fetch });
    await settle();
    assert.deepEqual(events.of('reconnecting').map((r) => [r.class, r.kind, r.delayMs]), [['backoff', 'unreachable', 250]]);
    client.close();
  });
});

describe('send queue', () => {
  it('queues while connecting, in order, and refuses beyond maxMessages', async () => {
    const { client } = start({ queue: { maxMessages: 3 } });
    assert.equal(client.send('a'), 'queued');
    assert.equal(client.send('b'), 'queued');
    assert.equal(client.send(new Uint8Array([1, 2])), 'queued');
    const error = assert.throws(() => client.send('d'), SendQueueFullError);
    assert.equal(client.queuedMessages, 3);
    await settle();
    FakeWebSocket.last.accept();
    assert.deepEqual(FakeWebSocket.last.sent, ['a', 'b', new Uint8Array([1, 2])]);
    assert.equal(client.queuedMessages, 0);
    assert.equal(client.send('e'), 'sent');
    client.close();
    void error;
  });

  it('refuses beyond maxBytes, counting text as UTF-8', () => {
    const { client } = start({ queue: { maxBytes: 10 } });
    client.send('ééé'); // 6 bytes
    try {
      client.send('éé€'); // 7 bytes: 13 > 10
      assert.fail('expected SendQueueFullError');
    } catch (error) {
      assert.ok(error instanceof SendQueueFullError);
      assert.equal(error.code, 'queue-full');
      assert.equal(error.messageBytes, 7);
      assert.equal(error.queuedBytes, 6);
      assert.equal(error.maxBytes, 10);
      assert.match(error.message, /send queue is full/);
    }
    assert.equal(client.send('1234'), 'queued'); // exactly 10
    assert.equal(client.queuedBytes, 10);
    client.close();
  });

  it('refuses every send while not connected with maxMessages 0', () => {
    const { client } = start({ queue: { maxMessages: 0 } });
    assert.throws(() => client.send('x'), SendQueueFullError);
    client.close();
  });
});

describe('resume', () => {
  it('offers the resume protocol around each app protocol, frames both ways, and acks in batches', async () => {
    const { client, clock, events } = start({ protocols: ['chat.v2'], resume: true });
    await settle();
    assert.deepEqual(FakeWebSocket.last.protocols, ['websocketpool.resume.v1+chat.v2', 'chat.v2']);
    const socket = FakeWebSocket.last;
    socket.accept('websocketpool.resume.v1+chat.v2');
    assert.equal(client.state, 'connecting', 'open once the session frame says which session it is');
    socket.message('s TOKEN1 0\n');
    assert.deepEqual(events.of('open'), [{ protocol: 'chat.v2', attempt: 0, admission: null, resumed: false }]);
    assert.equal(client.resumable, true);

    for (let i = 1; i <= 40; i++) socket.message(`m ${i}\nhello ${i}`);
    socket.message(`m 40\nduplicate`);
    socket.message(new Uint8Array([0x6d, 0x20, 0x34, 0x31, 0x0a, 7, 8]).buffer);
    assert.deepEqual(events.of('message').slice(0, 2).map((m) => m.data), ['hello 1', 'hello 2']);
    assert.equal(events.of('message').length, 41, 'a sequence already delivered is not delivered again');
    assert.deepEqual([...new Uint8Array(events.of('message')[40].data)], [7, 8]);
    assert.deepEqual(socket.sent, ['a 32\n'], 'an ack at once after 32 messages');
    clock.fire(1000);
    assert.deepEqual(socket.sent, ['a 32\n', 'a 41\n'], 'and the rest within a second');

    client.send('up');
    client.send(new Uint8Array([1, 2]));
    assert.equal(socket.sent[2], 'm\nup');
    assert.deepEqual([...socket.sent[3]], [0x6d, 0x0a, 1, 2]);
    client.close();
  });

  it('presents the token and last sequence after a drop, forgets them after a close frame or 4004', async () => {
    const { client, clock, events } = start({ resume: true });
    await settle();
    assert.deepEqual(FakeWebSocket.last.protocols, ['websocketpool.resume.v1']);
    FakeWebSocket.last.accept('websocketpool.resume.v1');
    FakeWebSocket.last.message('s T1 0\n');
    FakeWebSocket.last.message('m 1\na');
    FakeWebSocket.last.closeFromServer(1006);
    clock.fire(/** @type {number} */ (clock.pending().at(-1)));
    await settle();
    assert.equal(new URL(FakeWebSocket.last.url).searchParams.get('ws-resume-token'), 'T1');
    assert.equal(new URL(FakeWebSocket.last.url).searchParams.get('ws-resume-last'), '1');
    FakeWebSocket.last.accept('websocketpool.resume.v1');
    FakeWebSocket.last.message('s T2 1\n');
    assert.equal(events.of('open')[1].resumed, true);

    FakeWebSocket.last.closeFromServer(1006);
    clock.fire(/** @type {number} */ (clock.pending().at(-1)));
    await settle();
    assert.equal(new URL(FakeWebSocket.last.url).searchParams.get('ws-resume-token'), 'T2', 'only the latest token is valid');
    FakeWebSocket.last.accept('websocketpool.resume.v1');
    FakeWebSocket.last.closeFromServer(4004, 'Session cannot be resumed.');
    clock.fire(/** @type {number} */ (clock.pending().at(-1)));
    await settle();
    assert.equal(new URL(FakeWebSocket.last.url).searchParams.has('ws-resume-token'), false, 'after 4004 a fresh session');
    FakeWebSocket.last.accept('websocketpool.resume.v1');
    FakeWebSocket.last.message('s T3 0\n');
    FakeWebSocket.last.message('m 1\nnew');
    assert.equal(events.of('open')[2].resumed, false);
    assert.equal(events.of('message').at(-1).data, 'new', 'a new session numbers from 1 again');

    FakeWebSocket.last.closeFromServer(1001);
    clock.fire(/** @type {number} */ (clock.pending().at(-1)));
    await settle();
    assert.equal(new URL(FakeWebSocket.last.url).searchParams.has('ws-resume-token'), false, 'a close frame holds nothing');
    client.close();
  });

  it('refuses resume with binaryType blob', () => {
    assert.throws(() => start({ resume: true, binaryType: 'blob' }), /arraybuffer/);
  });
});
