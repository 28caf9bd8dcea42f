// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

// The client against a real EchoServer (a child process on a loopback port): echo, the prompt class after a drain
// (1001), backoff after a crash (1006), a refusal with Retry-After (429), eviction (4001), an oversized message (1009).
// Reconnect delays run on a clock 20 times faster than the real one; what is asserted is the delay the client asked for.

import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { SendQueueFullError, connect } from '../src/index.js';
import { closeClients, fastClock, recorder } from './support/fakes.js';
import { startSample, stats, waitFor } from './support/servers.js';

/** Opens a plain WebSocket (not the client under test) and waits until it is open. */
async function rawSocket(url) {
  const socket = new WebSocket(url);
  await new Promise((resolveOpen, reject) => {
    socket.addEventListener('open', () => resolveOpen(undefined), { once: true });
    socket.addEventListener('error', () => {
      // The handshake's status is hidden from WebSocket users: ask the preview why, for the failure message.
      void fetch(url.replace(/^ws/, 'http')).then(async (r) => r.text()).catch(String)
        .then((why) => reject(new Error(`${url} did not open; the preview says: ${why}`)));
    }, { once: true });
  });
  return socket;
}

afterEach(closeClients);

const userConnections = async (server, user) =>
  (await stats(server.httpUrl)).users.find((/** @type {any} */ u) => u.user === user)?.connections ?? 0;

describe('EchoServer', () => {
  /** @type {Awaited<ReturnType<typeof startSample>>} */
  let server;
  before(async () => {
    server = await startSample('EchoServer', { args: ['--WebSocketPool:MaxConnectionsPerUser=1', '--WebSocketPool:MaxMessageBytes=4096'] });
  });
  after(async () => { await server?.stop(); });

  it('echoes text and binary, and the preview reports the admission', async () => {
    const client = connect(`${server.wsUrl}/ws?user=echo`, { preview: true });
    const events = recorder(client);
    const open = await events.until('open');
    assert.deepEqual(open.admission, { user: 'echo', connections: 0, limit: 1 });
    client.send('hello');
    client.send(new Uint8Array([1, 2, 3]));
    await events.until('message', (m) => m.data instanceof ArrayBuffer);
    const received = events.of('message').map((m) => (typeof m.data === 'string' ? m.data : [...new Uint8Array(m.data)]));
    assert.deepEqual(received, ['hello', [1, 2, 3]]);
    client.close();
    assert.equal(client.state, 'closed');
    await waitFor(async () => (await userConnections(server, 'echo')) === 0, 'the server to release echo');
  });

  it('is refused with 429 and Retry-After while the user is at the limit, then connects once a slot is free', async () => {
    const holder = await rawSocket(`${server.wsUrl}/ws?user=limited`);
    const clock = fastClock();
    const client = connect(`${server.wsUrl}/ws?user=limited`, { preview: true, clock });
    const events = recorder(client);
    const refused = await events.until('refused');
    assert.equal(refused.status, 429);
    assert.equal(refused.reason, 'user_limit');
    assert.equal(refused.limit, 1);
    assert.equal(refused.current, 1);
    assert.equal(refused.class, 'backoff');
    assert.ok(refused.retryAfterMs >= 1000, `Retry-After ${refused.retryAfterMs}`);
    const reconnecting = await events.until('reconnecting');
    assert.equal(reconnecting.status, 429);
    assert.ok(reconnecting.delayMs >= refused.retryAfterMs, `delay ${reconnecting.delayMs} < Retry-After ${refused.retryAfterMs}`);
    assert.equal(client.state, 'reconnecting');

    holder.close();
    const open = await events.until('open');
    assert.ok(open.attempt >= 1);
    client.close();
    await waitFor(async () => (await userConnections(server, 'limited')) === 0, 'the server to release limited');
  });

  it('without the preview, sees a refused handshake as 1006 and stops after maxAttempts', async () => {
    const holder = await rawSocket(`${server.wsUrl}/ws?user=blind`);
    const client = connect(`${server.wsUrl}/ws?user=blind`, { preview: false, maxAttempts: 2, clock: fastClock() });
    const events = recorder(client);
    const closed = await events.until('closed');
    assert.deepEqual(closed, { code: 1006, reason: '', class: 'backoff', kind: 'abnormal', status: null, exhausted: true, unsent: 0 });
    assert.deepEqual(events.of('reconnecting').map((r) => r.attempt), [1, 2]);
    assert.deepEqual(events.of('refused'), []);
    holder.close();
  });

  it('stops on 1009 after an oversized message', async () => {
    const client = connect(`${server.wsUrl}/ws?user=big`);
    const events = recorder(client);
    await events.until('open');
    client.send('x'.repeat(5000));
    const closed = await events.until('closed');
    assert.equal(closed.code, 1009);
    assert.equal(closed.class, 'terminal');
    assert.equal(closed.kind, 'message-too-big');
    assert.deepEqual(events.of('reconnecting'), []);
  });
});

describe('EchoServer with EvictOldest', () => {
  /** @type {Awaited<ReturnType<typeof startSample>>} */
  let server;
  before(async () => {
    server = await startSample('EchoServer', { args: ['--WebSocketPool:MaxConnectionsPerUser=1', '--WebSocketPool:OverflowPolicy=EvictOldest'] });
  });
  after(async () => { await server?.stop(); });

  it('stops on 4001 when a newer connection of the user replaces it', async () => {
    const client = connect(`${server.wsUrl}/ws?user=carol`);
    const events = recorder(client);
    await events.until('open');
    // The echo proves the server runs the connection (an eviction picks among running connections, not handshaking ones).
    client.send('ping');
    await events.until('message', (m) => m.data === 'ping');
    const newer = await rawSocket(`${server.wsUrl}/ws?user=carol`);
    const closed = await events.until('closed');
    assert.equal(closed.code, 4001);
    assert.equal(closed.class, 'terminal');
    assert.equal(closed.kind, 'evicted');
    assert.deepEqual(events.of('reconnecting'), []);
    assert.throws(() => client.send('x'), /closed/);
    newer.close();
  });
});

describe('EchoServer restarts', () => {
  it('reconnects promptly after a drain (1001), with backoff while it is down, and sends what was queued meanwhile', async () => {
    let server = await startSample('EchoServer');
    try {
      const clock = fastClock();
      const client = connect(`${server.wsUrl}/ws?user=drained`, { preview: true, clock, queue: { maxMessages: 2 } });
      const events = recorder(client);
      await events.until('open');

      await server.stop(); // SIGTERM: the pool closes every socket with 1001
      const first = await events.until('reconnecting');
      assert.equal(first.code, 1001);
      assert.equal(first.class, 'prompt');
      assert.ok(first.delayMs < 1000, `prompt delay ${first.delayMs}`);
      assert.equal(client.send('queued while away'), 'queued');
      assert.equal(client.send('and another'), 'queued');
      assert.throws(() => client.send('one too many'), SendQueueFullError);

      // Down: the preview cannot reach it, and the client backs off.
      await events.until('reconnecting', (r) => r.kind === 'unreachable');
      server = await startSample('EchoServer', { port: server.port });
      const open = await events.until('open', () => true, 1);
      assert.ok(open.attempt >= 2);
      await events.until('message', (m) => m.data === 'and another');
      assert.deepEqual(events.of('message').map((m) => m.data), ['queued while away', 'and another']);
      client.close();
    } finally {
      await server.stop();
    }
  });

  it('reconnects with backoff after a crash (1006)', async () => {
    let server = await startSample('EchoServer');
    try {
      const client = connect(`${server.wsUrl}/ws?user=crashed`, { clock: fastClock() });
      const events = recorder(client);
      await events.until('open');
      await server.kill();
      const first = await events.until('reconnecting');
      assert.equal(first.code, 1006);
      assert.equal(first.class, 'backoff');
      server = await startSample('EchoServer', { port: server.port });
      await events.until('open', () => true, 1);
      client.send('back');
      await events.until('message', (m) => m.data === 'back');
      assert.ok(events.of('reconnecting').every((r) => r.class === 'backoff'));
      client.close();
    } finally {
      await server.stop();
    }
  });
});
