// The signaling wire helpers (protocol.js) against docs/protocol.md.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import * as wire from '../protocol.js';

test('session codes: nine digits with any spaces or dashes, nothing else', () => {
  assert.equal(wire.normaliseCode('482 913 075'), '482913075');
  assert.equal(wire.normaliseCode(' 482-913-075 '), '482913075');
  assert.equal(wire.normaliseCode('482913075'), '482913075');
  assert.equal(wire.normaliseCode('482 913 07'), null, 'eight digits');
  assert.equal(wire.normaliseCode('4829130755'), null, 'ten digits');
  assert.equal(wire.normaliseCode('482.913.075'), null, 'other separators');
  assert.equal(wire.normaliseCode('48291307a'), null, 'letters');
  assert.equal(wire.normaliseCode('٤٨٢٩١٣٠٧٥'), null, 'other digits than 0-9');
  assert.equal(wire.normaliseCode(''), null);
});

test('the WebSocket is beside the page: ws for http, wss for https, path kept', () => {
  assert.equal(wire.signalingUrl('http://127.0.0.1:8080/'), 'ws://127.0.0.1:8080/ws');
  assert.equal(wire.signalingUrl('https://example.org/tether/?code=482913075#x'),
    'wss://example.org/tether/ws');
  assert.equal(wire.signalingUrl('https://example.org/tether/index.html'),
    'wss://example.org/tether/ws');
});

test('the viewer messages have the documented shapes', () => {
  assert.equal(wire.encode(wire.hello('Sam')),
    '{"type":"hello","version":1,"role":"viewer","name":"Sam"}');
  assert.deepEqual(wire.join('482913075'), { type: 'join', code: '482913075' });
  assert.deepEqual(wire.join('482913075', 'ab'), { type: 'join', code: '482913075', commit: 'ab' });
  assert.deepEqual(wire.fingerprint('sha-256 AB'), { type: 'fingerprint', fingerprint: 'sha-256 AB' });
  assert.deepEqual(wire.answer('v=0\r\n'), { type: 'answer', sdp: 'v=0\r\n' });
  assert.deepEqual(wire.bye('ice_failed'), { type: 'bye', reason: 'ice_failed' });
  assert.ok(!('message' in wire.bye('hangup')), 'no message field without a message');
  assert.deepEqual(wire.bye('hangup', 'Could not connect: x'),
    { type: 'bye', reason: 'hangup', message: 'Could not connect: x' });
  const local = { candidate: 'candidate:1 1 udp 1 192.0.2.1 5000 typ host',
    toJSON: () => ({ candidate: 'c', sdpMid: '0', sdpMLineIndex: 0, usernameFragment: 'u' }) };
  assert.deepEqual(wire.candidate(local), { type: 'candidate',
    candidate: { candidate: 'c', sdpMid: '0', sdpMLineIndex: 0, usernameFragment: 'u' } });
  assert.equal(wire.encode(wire.candidate(null)), '{"type":"candidate","candidate":null}');
});

test('server frames: objects with a string type, anything else is no message', () => {
  assert.deepEqual(wire.parseServerMessage('{"type":"joined","agent_name":"desk"}'),
    { type: 'joined', agent_name: 'desk' });
  for (const frame of ['', 'not json', 'null', '42', '"joined"', '[{"type":"joined"}]',
    '{"kind":"joined"}', '{"type":7}']) {
    assert.equal(wire.parseServerMessage(frame), null, frame);
  }
  assert.equal(wire.parseServerMessage(new ArrayBuffer(4)), null, 'binary');
});

test('the server ICE configuration becomes an RTCConfiguration', () => {
  const ice = {
    ice_servers: [
      { urls: ['stun:192.0.2.1:3478'] },
      { urls: ['turn:192.0.2.1:3478?transport=udp'], username: '1767225600:tether', credential: 'c2VjcmV0' },
    ],
    ice_transport_policy: 'relay',
  };
  assert.deepEqual(wire.rtcConfiguration(ice), {
    iceServers: [
      { urls: ['stun:192.0.2.1:3478'] },
      { urls: ['turn:192.0.2.1:3478?transport=udp'], username: '1767225600:tether', credential: 'c2VjcmV0' },
    ],
    iceTransportPolicy: 'relay',
  });
  assert.deepEqual(wire.rtcConfiguration({ ice_servers: [], ice_transport_policy: 'all' }),
    { iceServers: [], iceTransportPolicy: 'all' });
  assert.deepEqual(wire.rtcConfiguration(undefined), { iceServers: [], iceTransportPolicy: 'all' });
  assert.deepEqual(wire.rtcConfiguration({ ice_servers: 'x', ice_transport_policy: 'nonsense' }),
    { iceServers: [], iceTransportPolicy: 'all' });
});

test('mDNS candidates are recognised by their address field', () => {
  assert.ok(wire.isMdnsCandidate('candidate:1 1 udp 2122260223 2c7a1f7e-1b2c.local 54321 typ host'));
  assert.ok(wire.isMdnsCandidate('candidate:1 1 udp 2122260223 ABC.LOCAL 54321 typ host'));
  assert.ok(!wire.isMdnsCandidate('candidate:1 1 udp 2122260223 192.0.2.10 54321 typ host'));
  assert.ok(!wire.isMdnsCandidate('candidate:1 1 udp 1 192.0.2.10 1 typ srflx raddr x.local'));
  assert.ok(!wire.isMdnsCandidate('x.local'));
});

test('relayed candidates: the optional fields filled in for addIceCandidate', () => {
  assert.ok(!wire.isRemoteCandidate(null), 'end of candidates');
  assert.ok(!wire.isRemoteCandidate({ candidate: '' }));
  assert.ok(wire.isRemoteCandidate({ candidate: 'candidate:1 1 udp 1 192.0.2.1 1 typ host' }));
  assert.deepEqual(wire.candidateInit({ candidate: 'c' }),
    { candidate: 'c', usernameFragment: undefined, sdpMid: null, sdpMLineIndex: 0 });
  assert.deepEqual(wire.candidateInit({ candidate: 'c', sdpMid: '1' }),
    { candidate: 'c', usernameFragment: undefined, sdpMid: '1', sdpMLineIndex: null });
  assert.deepEqual(wire.candidateInit({ candidate: 'c', sdpMid: '0', sdpMLineIndex: 1, usernameFragment: 'u' }),
    { candidate: 'c', usernameFragment: 'u', sdpMid: '0', sdpMLineIndex: 1 });
});

test('the first answer is made passive on every m-line', () => {
  const sdp = 'v=0\r\nm=video 9\r\na=setup:active\r\nm=audio 9\r\na=setup:active\r\n';
  assert.equal(wire.passiveSetup(sdp),
    'v=0\r\nm=video 9\r\na=setup:passive\r\nm=audio 9\r\na=setup:passive\r\n');
  assert.equal(wire.passiveSetup('a=setup:actpass\r\n'), 'a=setup:actpass\r\n');
});
