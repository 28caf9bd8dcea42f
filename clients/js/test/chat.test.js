// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

// The client against a real ChatServer (cookie sign-in): the preview with the user's cookie, a kick by sign-out (4003)
// that stops the client, and a refusal without a cookie (401) that stops it before any handshake.

import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { connect } from '../src/index.js';
import { closeClients, fastClock, recorder } from './support/fakes.js';
import { chatLogin, httpRequest, startSample, stats, waitFor } from './support/servers.js';

afterEach(closeClients);

/**
 * What a Node app passes to send a cookie: browsers send the page's cookies by themselves, Node needs them given to
 * the WebSocket (Node's WebSocket takes headers in its second argument) and to fetch.
 *
 * @param {string} cookie
 */
function withCookie(cookie) {
  class CookieWebSocket extends WebSocket {
    /** @param {string} url @param {string | string[]} [protocols] */
    constructor(url, protocols) {
      super(url, /** @type {any} */ ({ protocols, headers: { cookie } }));
    }
  }
  /** @type {typeof fetch} */
  const cookieFetch = (url, init = {}) => fetch(url, { ...init, headers: { ...init.headers, cookie } });
  return { WebSocket: CookieWebSocket, fetch: cookieFetch, preview: true };
}

describe('ChatServer', () => {
  /** @type {Awaited<ReturnType<typeof startSample>>} */
  let server;
  before(async () => { server = await startSample('ChatServer'); });
  after(async () => { await server?.stop(); });

  it('connects after the preview admits the signed-in user, and stops when the user is signed out (4003)', async () => {
    const cookie = await chatLogin(server.httpUrl, 'dana');
    const client = connect(`${server.wsUrl}/ws`, { ...withCookie(cookie), clock: fastClock() });
    const events = recorder(client);
    const open = await events.until('open');
    assert.deepEqual(open.admission, { user: 'dana', connections: 0, limit: 5 });
    const hello = JSON.parse((await events.until('message', (m) => String(m.data).includes('"hello"'))).data);
    assert.equal(hello.user, 'dana');

    const logout = await httpRequest(`${server.httpUrl}/logout`, { method: 'POST', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' }, body: '' });
    assert.ok(logout.status < 400, `logout answered ${logout.status}: ${logout.body}`);
    const closed = await events.until('closed');
    assert.equal(closed.code, 4003);
    assert.equal(closed.class, 'terminal');
    assert.equal(closed.kind, 'kicked');
    assert.deepEqual(events.of('reconnecting'), []);
    await waitFor(async () => (await stats(server.httpUrl)).activeConnections === 0, 'the kicked socket to be released');
    assert.equal(client.state, 'closed');
  });

  it('stops on the preview\'s 401 without a cookie, before any handshake', async () => {
    let handshakes = 0;
    class CountingWebSocket extends WebSocket {
      /** @param {string} url @param {string | string[]} [protocols] */
      constructor(url, protocols) { super(url, protocols); handshakes++; }
    }
    const client = connect(`${server.wsUrl}/ws`, { preview: true, WebSocket: CountingWebSocket });
    const events = recorder(client);
    const closed = await events.until('closed');
    assert.equal(closed.status, 401);
    assert.equal(closed.class, 'terminal');
    assert.equal(closed.kind, 'unauthenticated');
    const refused = events.of('refused')[0];
    assert.equal(refused.status, 401);
    assert.equal(refused.reason, 'unauthenticated');
    assert.equal(handshakes, 0);
  });
});
