// The session machine (session.js) driven through its flows with a fake socket, peer, view
// and clock: what it sends, what it shows, and how and when it ends.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { commitment, sasFromFingerprints } from '../sas.js';
import {
  BYE_TEXT, IMPOSTOR_TEXT, CONNECT_TIMEOUT_MS, JOIN_TIMEOUT_MS, JOIN_TIMEOUT_TEXT, LOST_TEXT,
  MAX_BUFFERED_INPUT, STATS_EVERY_MS, Session, errorEndsSession, errorText,
} from '../session.js';

// ---- Fakes ----------------------------------------------------------------------------------

/** Time that moves only when told; timers fire in order of their due time. */
class FakeClock {
  constructor() {
    this.t = 1000;
    this.timers = new Map();
    this.nextId = 1;
  }

  now() { return this.t; }

  setTimeout(f, ms) { return this.add(f, ms, null); }

  setInterval(f, ms) { return this.add(f, ms, ms); }

  clearTimeout(id) { this.timers.delete(id); }

  clearInterval(id) { this.timers.delete(id); }

  add(f, ms, every) {
    const id = this.nextId++;
    this.timers.set(id, { f, at: this.t + ms, every });
    return id;
  }

  /** Moves time on by `ms`, firing what falls due on the way. */
  advance(ms) {
    const end = this.t + ms;
    for (;;) {
      let due = null;
      for (const [id, timer] of this.timers) {
        if (timer.at <= end && (due === null || timer.at < due[1].at)) due = [id, timer];
      }
      if (!due) break;
      const [id, timer] = due;
      this.t = timer.at;
      if (timer.every === null) this.timers.delete(id);
      else timer.at += timer.every;
      timer.f();
    }
    this.t = end;
  }

  get pending() { return this.timers.size; }
}

class FakeSocket {
  constructor(url) {
    this.url = url;
    this.readyState = 0;
    this.frames = [];
    this.closed = false;
  }

  send(data) {
    assert.equal(this.readyState, 1, `sent on a socket that is not open: ${data}`);
    this.frames.push(data);
  }

  close() {
    this.closed = true;
    this.readyState = 3;
  }

  get sent() { return this.frames.map((f) => JSON.parse(f)); }

  // What the server does:
  open() {
    this.readyState = 1;
    this.onopen();
  }

  receive(msg) { this.onmessage({ data: typeof msg === 'string' ? msg : JSON.stringify(msg) }); }

  drop() {
    this.readyState = 3;
    if (this.onclose) this.onclose();
  }
}

class FakePeer {
  constructor(config) {
    this.config = config;
    this.connectionState = 'new';
    this.remoteDescription = null;
    this.localDescription = null;
    this.remotes = [];
    this.added = [];
    this.answers = 0;
    this.closed = false;
    this.failRemote = null;
    this.report = [];
  }

  async setRemoteDescription(desc) {
    if (this.failRemote) throw new Error(this.failRemote);
    this.remotes.push(desc);
    this.remoteDescription = desc;
  }

  async createAnswer() {
    this.answers += 1;
    return { type: 'answer', sdp: `v=0\r\no=- ${this.answers}\r\na=setup:active\r\n` };
  }

  async setLocalDescription(desc) { this.localDescription = desc; }

  async addIceCandidate(init) { this.added.push(init); }

  async getStats() { return this.report; }

  close() { this.closed = true; }

  // What the browser does:
  state(s) {
    this.connectionState = s;
    this.onconnectionstatechange();
  }

  localCandidate(line) {
    this.onicecandidate({ candidate: line === null ? null : { candidate: line, toJSON: () => ({ candidate: line, sdpMid: '0' }) } });
  }
}

/** Records what the person would see. */
class FakeView {
  constructor() {
    this.calls = [];
    this.stateText = null;
    this.stateError = null;
    this.messageText = null;
    this.messageInfo = null;
    this.sessionShown = false;
    this.tracks = [];
    this.endedWith = null;
  }

  message(text, info) {
    this.calls.push('message');
    this.messageText = text;
    this.messageInfo = Boolean(info);
  }

  state(text, isError) {
    this.calls.push('state');
    this.stateText = text;
    this.stateError = Boolean(isError);
  }

  showSession() {
    this.calls.push('showSession');
    this.sessionShown = true;
  }

  showTrack(track, onFirstFrame) {
    this.calls.push('showTrack');
    this.tracks.push({ track, onFirstFrame });
  }

  connected() { this.calls.push('connected'); }

  stats(stats) {
    this.calls.push('stats');
    this.lastStats = stats;
  }

  ended(text, isError) {
    this.calls.push('ended');
    this.endedWith = { text, isError };
  }
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

const ICE = { ice_servers: [{ urls: ['stun:192.0.2.1:3478'] }], ice_transport_policy: 'all' };
const OFFER_SDP = 'v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\na=setup:actpass\r\n';

function start({ refuseOffers = null, identity = null } = {}) {
  const clock = new FakeClock();
  const view = new FakeView();
  const status = { state: 'idle', joinedAt: null, firstFrameMs: null, marks: {}, stats: null,
    inputSent: 0, mdnsDropped: 0 };
  const sockets = [];
  const peers = [];
  const warnings = [];
  const endings = [];
  const log = { warn: (...args) => warnings.push(args), info: () => {} };
  const session = new Session({
    code: '482913075',
    name: 'Sam',
    url: 'ws://127.0.0.1:8080/ws',
    connect: (url) => {
      const ws = new FakeSocket(url);
      sockets.push(ws);
      return ws;
    },
    createPeer: (config) => {
      const pc = new FakePeer(config);
      pc.failRemote = refuseOffers;
      peers.push(pc);
      return pc;
    },
    makeIdentity: async () => identity,
    clock,
    view,
    status,
    log,
    onEnd: (s) => endings.push(s),
  });
  assert.equal(sockets.length, 1, 'one WebSocket per session');
  return { session, ws: sockets[0], clock, view, status, peers, warnings, endings };
}

/** Up to `joined`. */
function joined(options) {
  const s = start(options);
  s.ws.open();
  s.ws.receive({ type: 'joined', agent_name: 'front-desk', ice: ICE });
  return s;
}

/** Up to the answer of the first offer. */
async function answered() {
  const s = joined();
  s.ws.receive({ type: 'offer', sdp: OFFER_SDP });
  await settle();
  assert.equal(s.peers.length, 1);
  s.pc = s.peers[0];
  return s;
}

/** Up to `connected`, with the agent's input channel open. */
async function connected() {
  const s = await answered();
  s.channel = { label: 'input', readyState: 'open', bufferedAmount: 0, sent: [],
    send(data) { this.sent.push(JSON.parse(data)); } };
  s.pc.ondatachannel({ channel: s.channel });
  s.pc.state('connected');
  return s;
}

function assertEnded(s, outcome, shown) {
  assert.equal(s.session.phase, 'ended');
  assert.equal(s.status.state, 'ended');
  assert.deepEqual(s.session.outcome, outcome);
  assert.deepEqual(s.view.endedWith, shown);
  assert.ok(s.ws.closed, 'the WebSocket is closed');
  assert.equal(s.ws.onclose, null, 'its close is not a second ending');
  assert.deepEqual(s.endings, [s.session], 'the owner is told once');
  assert.equal(s.clock.pending, 0, 'no timer left running');
}

// ---- Joining --------------------------------------------------------------------------------

test('join: hello and join once the socket opens, then the waiting screen', async () => {
  const s = start();
  assert.equal(s.ws.url, 'ws://127.0.0.1:8080/ws');
  assert.equal(s.session.phase, 'joining');
  assert.equal(s.status.state, 'joining');
  assert.equal(s.status.joinedAt, 1000);
  assert.deepEqual(s.ws.frames, []);
  s.clock.advance(12);
  s.ws.open();
  await settle();
  assert.deepEqual(s.ws.frames, [
    '{"type":"hello","version":1,"role":"viewer","name":"Sam"}',
    '{"type":"join","code":"482913075"}',
  ]);
  assert.equal(s.view.messageText, 'Looking for the computer…');
  assert.equal(s.view.messageInfo, true);
  assert.equal(s.view.sessionShown, false);

  s.clock.advance(8);
  s.ws.receive({ type: 'joined', agent_name: 'front-desk', ice: ICE });
  assert.equal(s.view.sessionShown, true);
  assert.equal(s.session.phase, 'waiting');
  assert.equal(s.status.state, 'waiting');
  assert.equal(s.view.stateText, 'Waiting for the person at front-desk to allow you…');
  assert.equal(s.view.stateError, false);
  assert.deepEqual(s.status.marks, { open: 12, joined: 20 });
  assert.equal(s.session.outcome, null);
});

test('join: an agent without a name is "the computer"', () => {
  const s = start();
  s.ws.open();
  s.ws.receive({ type: 'joined', agent_name: '', ice: ICE });
  assert.equal(s.view.stateText, 'Waiting for the person at the computer to allow you…');
});

test('join: a wrong code ends the attempt with its sentence', () => {
  const s = start();
  s.ws.open();
  s.ws.receive({ type: 'error', code: 'unknown_code', message: 'no agent has this code' });
  assertEnded(s,
    { kind: 'error', code: 'unknown_code', text: 'No computer has this code. Check the digits with the person.', isError: true },
    { text: 'No computer has this code. Check the digits with the person.', isError: true });
  assert.equal(s.peers.length, 0);
  assert.equal(s.view.sessionShown, false, 'the join form stays');
});

test('join: every refusal ends it; rate limits say when to try again', () => {
  for (const [err, text] of [
    [{ code: 'expired' }, 'This code has expired. Ask the person for the new code.'],
    [{ code: 'busy' }, 'Someone else is already connected to this computer.'],
    [{ code: 'rate_limited', retry_after_secs: 41.2 }, 'Too many wrong codes from this address. Try again in 42 s.'],
    [{ code: 'rate_limited' }, 'Too many wrong codes from this address.'],
    [{ code: 'bad_state' }, 'The request came at the wrong time; connect again.'],
    [{ code: 'teapot', message: 'I am a teapot' }, 'I am a teapot'],
    [{ code: 'teapot' }, 'Error: teapot'],
  ]) {
    const s = start();
    s.ws.open();
    s.ws.receive({ type: 'error', ...err });
    assert.equal(s.session.phase, 'ended', err.code);
    assert.equal(s.view.endedWith.text, text);
    assert.equal(errorText(err), text);
  }
});

test('join: an error while waiting for the person also ends it', () => {
  const s = joined();
  s.ws.receive({ type: 'error', code: 'rate_limited', message: 'slow down' });
  assert.equal(s.session.phase, 'ended');
  assert.equal(s.view.endedWith.text, 'Too many wrong codes from this address.');
});

test('join: frames that are no message are ignored', () => {
  const s = start();
  s.ws.open();
  for (const frame of ['not json', '[]', '{"code":"unknown_code"}', '{"type":"code","code":"1"}']) {
    s.ws.receive(frame);
  }
  assert.equal(s.session.phase, 'joining');
  assert.equal(s.session.outcome, null);
});

test('join: the server dropping the connection ends it', () => {
  const s = joined();
  s.ws.drop();
  assertEnded(s, { kind: 'lost', text: LOST_TEXT, isError: true },
    { text: 'The connection to the server was lost.', isError: true });
});

test('timeout: no answer to the join within 15 s ends the attempt', () => {
  assert.equal(JOIN_TIMEOUT_MS, 15_000);
  const s = start();
  // The socket never opens (a server that does not answer).
  s.clock.advance(JOIN_TIMEOUT_MS - 1);
  assert.equal(s.session.phase, 'joining');
  s.clock.advance(1);
  assertEnded(s, { kind: 'timeout', which: 'join', text: JOIN_TIMEOUT_TEXT, isError: true },
    { text: 'The server did not answer in time. Try again in a moment.', isError: true });
  assert.deepEqual(s.ws.frames, [], 'nothing sent on a socket that never opened');
});

test('timeout: an opened socket without `joined` also times out', () => {
  const s = start();
  s.ws.open();
  s.clock.advance(JOIN_TIMEOUT_MS);
  assert.equal(s.session.outcome.which, 'join');
});

test('timeout: once joined, waiting for the person has no deadline of the page', () => {
  const s = joined();
  s.clock.advance(10 * 60 * 1000);
  assert.equal(s.session.phase, 'waiting');
  assert.equal(s.session.outcome, null);
  assert.equal(s.clock.pending, 0);
});

// ---- Consent --------------------------------------------------------------------------------

test('consent denied: the bye reason is shown and ends the session', () => {
  const s = joined();
  s.ws.receive({ type: 'bye', reason: 'denied' });
  assertEnded(s, { kind: 'bye', reason: 'denied', text: BYE_TEXT.denied, isError: true },
    { text: 'The person declined the request.', isError: true });
  assert.ok(!s.ws.sent.some((m) => m.type === 'bye'), 'a received bye is not answered');
});

test('consent: nobody answering, stopped sharing, a message and unknown reasons', () => {
  for (const [bye, text] of [
    [{ reason: 'consent_timeout' }, 'Nobody answered the request in time.'],
    [{ reason: 'stopped', message: 'lunch' }, 'The person stopped sharing. (lunch)'],
    [{ reason: 'server_shutdown' }, 'The server shut down.'],
    [{ reason: 'moved_away' }, 'The session ended.'],
  ]) {
    const s = joined();
    s.ws.receive({ type: 'bye', ...bye });
    assert.deepEqual(s.view.endedWith, { text, isError: true }, bye.reason);
  }
});

// ---- Connecting -----------------------------------------------------------------------------

test('offer: answered passive on a peer made from the server ICE, candidates both ways', async () => {
  const s = joined();
  // A candidate may come before the offer: kept until there is a remote description.
  s.ws.receive({ type: 'candidate', candidate: { candidate: 'candidate:1 1 udp 1 192.0.2.1 5000 typ host', sdpMid: '0', sdpMLineIndex: 0 } });
  s.ws.receive({ type: 'candidate', candidate: null });
  s.clock.advance(5);
  s.ws.receive({ type: 'offer', sdp: OFFER_SDP });
  await settle();
  assert.equal(s.session.phase, 'connecting');
  assert.equal(s.view.stateText, 'Connecting…');
  const [pc] = s.peers;
  assert.deepEqual(pc.config, { iceServers: [{ urls: ['stun:192.0.2.1:3478'] }], iceTransportPolicy: 'all' });
  assert.deepEqual(pc.remotes, [{ type: 'offer', sdp: OFFER_SDP }]);
  const answers = s.ws.sent.filter((m) => m.type === 'answer');
  assert.deepEqual(answers, [{ type: 'answer', sdp: 'v=0\r\no=- 1\r\na=setup:passive\r\n' }]);
  assert.deepEqual(pc.added, [{ candidate: 'candidate:1 1 udp 1 192.0.2.1 5000 typ host',
    usernameFragment: undefined, sdpMid: '0', sdpMLineIndex: 0 }], 'the early candidate, after the answer');

  s.ws.receive({ type: 'candidate', candidate: { candidate: 'candidate:2 1 udp 1 192.0.2.1 5001 typ host' } });
  assert.equal(pc.added.length, 2, 'later candidates at once');
  assert.equal(pc.added[1].sdpMLineIndex, 0);

  pc.localCandidate('candidate:3 1 udp 2122260223 2c7a1f7e.local 54321 typ host');
  pc.localCandidate('candidate:4 1 udp 2122260223 192.0.2.7 54321 typ host');
  pc.localCandidate(null);
  const candidates = s.ws.sent.filter((m) => m.type === 'candidate');
  assert.deepEqual(candidates, [
    { type: 'candidate', candidate: { candidate: 'candidate:4 1 udp 2122260223 192.0.2.7 54321 typ host', sdpMid: '0' } },
    { type: 'candidate', candidate: null },
  ], 'mDNS candidates left out');
  assert.equal(s.status.mdnsDropped, 1);
  assert.equal(s.status.marks.offer, 5);
});

test('connected: the state line, the picture focused, stats every second, the first frame', async () => {
  const s = await answered();
  s.clock.advance(100);
  s.pc.state('connected');
  assert.equal(s.session.phase, 'connected');
  assert.equal(s.status.state, 'connected');
  assert.equal(s.view.stateText, 'Connected. Click the picture to control the computer.');
  assert.equal(s.view.stateError, false);
  assert.ok(s.view.calls.includes('connected'));
  assert.equal(s.status.marks.connected, 100);

  const track = { kind: 'video' };
  const receiver = { jitterBufferTarget: null };
  s.pc.ontrack({ track, receiver });
  assert.equal(receiver.jitterBufferTarget, 0, 'no jitter-buffer target');
  assert.equal(s.view.tracks[0].track, track);

  s.pc.report = [{ id: 'v', type: 'inbound-rtp', kind: 'video', framesDecoded: 3, bytesReceived: 9000 }];
  s.clock.advance(STATS_EVERY_MS - 1);
  await settle();
  assert.equal(s.status.stats, null);
  s.clock.advance(1);
  await settle();
  assert.equal(s.status.stats.framesDecoded, 3);
  assert.equal(s.view.lastStats, s.status.stats);
  // Decoded frames in the stats count as the first frame when no frame callback came.
  assert.equal(s.status.firstFrameMs, 1100);
  assert.equal(s.status.marks.first_frame, 1100);
  s.view.tracks[0].onFirstFrame();
  assert.equal(s.status.firstFrameMs, 1100, 'the first frame only once');
  s.clock.advance(STATS_EVERY_MS);
  await settle();
  assert.equal(s.view.calls.filter((c) => c === 'stats').length, 2);
});

test('connected: a second `connected` starts no second stats timer', async () => {
  const s = await connected();
  s.pc.state('disconnected');
  s.pc.state('connected');
  assert.equal(s.clock.pending, 1, 'one stats interval');
});

test('offer: a peer connection failing to take it ends with a bye that says why', async () => {
  // The fake refuses it as a browser refuses an unparsable description.
  const s = joined({ refuseOffers: 'Failed to parse SessionDescription.' });
  s.ws.receive({ type: 'offer', sdp: 'garbage' });
  await settle();
  const text = 'Could not connect: Failed to parse SessionDescription.';
  assert.deepEqual(s.ws.sent.at(-1), { type: 'bye', reason: 'hangup', message: text });
  assertEnded(s, { kind: 'failed', text, isError: true }, { text, isError: true });
  assert.ok(s.peers[0].closed);
});

test('ICE failed: a bye with ice_failed and the no-path sentence', async () => {
  const s = await connected();
  s.pc.state('failed');
  assert.deepEqual(s.ws.sent.at(-1), { type: 'bye', reason: 'ice_failed' });
  assertEnded(s, { kind: 'ice_failed', text: BYE_TEXT.ice_failed, isError: true },
    { text: 'No network path to the computer could be found.', isError: true });
  assert.ok(s.pc.closed);
});

test('timeout: not connected 30 s after the offer is an ICE failure', async () => {
  assert.equal(CONNECT_TIMEOUT_MS, 30_000);
  const s = await answered();
  s.pc.state('checking');
  s.clock.advance(CONNECT_TIMEOUT_MS - 1);
  assert.equal(s.session.phase, 'connecting');
  s.clock.advance(1);
  assert.deepEqual(s.ws.sent.at(-1), { type: 'bye', reason: 'ice_failed' });
  assertEnded(s, { kind: 'timeout', which: 'connect', text: BYE_TEXT.ice_failed, isError: true },
    { text: 'No network path to the computer could be found.', isError: true });
  assert.ok(s.pc.closed);
});

test('timeout: connecting in time disarms it', async () => {
  const s = await answered();
  s.clock.advance(CONNECT_TIMEOUT_MS - 1);
  s.pc.state('connected');
  s.clock.advance(10 * CONNECT_TIMEOUT_MS);
  await settle();
  assert.equal(s.session.phase, 'connected');
  assert.equal(s.session.outcome, null);
});

// ---- Interruptions and ICE restarts ---------------------------------------------------------

test('ICE restart: interrupted, the new offer re-answered on the same peer, connected again', async () => {
  const s = await connected();
  s.pc.state('disconnected');
  assert.equal(s.session.phase, 'interrupted');
  assert.equal(s.status.state, 'interrupted');
  assert.equal(s.view.stateText, 'Connection interrupted; trying to recover…');
  assert.equal(s.view.stateError, true);

  s.clock.advance(3000);
  const restart = 'v=0\r\no=- 4611731400430051336 3 IN IP4 127.0.0.1\r\na=ice-ufrag:new\r\n';
  s.ws.receive({ type: 'offer', sdp: restart });
  await settle();
  assert.equal(s.peers.length, 1, 'no new peer connection');
  assert.deepEqual(s.pc.remotes.at(-1), { type: 'offer', sdp: restart });
  const answers = s.ws.sent.filter((m) => m.type === 'answer');
  assert.equal(answers.length, 2);
  // The re-answer keeps the DTLS role negotiated first: it is sent as the peer made it.
  assert.deepEqual(answers[1], { type: 'answer', sdp: 'v=0\r\no=- 2\r\na=setup:active\r\n' });

  s.pc.state('connected');
  assert.equal(s.session.phase, 'connected');
  assert.equal(s.view.stateText, 'Connected. Click the picture to control the computer.');
  s.clock.advance(10 * CONNECT_TIMEOUT_MS);
  await settle();
  assert.equal(s.session.outcome, null, 'the recovery deadline was disarmed');
});

test('ICE restart: offers are answered in order, one at a time', async () => {
  const s = joined();
  s.ws.receive({ type: 'offer', sdp: OFFER_SDP });
  s.ws.receive({ type: 'offer', sdp: 'restart' });
  await settle();
  assert.equal(s.peers.length, 1);
  assert.deepEqual(s.peers[0].remotes.map((d) => d.sdp), [OFFER_SDP, 'restart']);
  assert.deepEqual(s.ws.sent.filter((m) => m.type === 'answer').map((m) => m.sdp),
    ['v=0\r\no=- 1\r\na=setup:passive\r\n', 'v=0\r\no=- 2\r\na=setup:active\r\n']);
});

test('timeout: an interruption not recovered within 30 s ends the session', async () => {
  const s = await connected();
  s.clock.advance(5000);
  s.pc.state('disconnected');
  s.clock.advance(CONNECT_TIMEOUT_MS - 1);
  assert.equal(s.session.phase, 'interrupted');
  s.clock.advance(1);
  assert.deepEqual(s.ws.sent.at(-1), { type: 'bye', reason: 'ice_failed' });
  assertEnded(s, { kind: 'timeout', which: 'connect', text: BYE_TEXT.ice_failed, isError: true },
    { text: 'No network path to the computer could be found.', isError: true });
});

// ---- Errors during a session ----------------------------------------------------------------

test('error policy: with a peer connection only the closing errors end the session', async () => {
  for (const code of ['bad_state', 'malformed', 'unknown_type', 'too_large', 'rate_limited']) {
    assert.equal(errorEndsSession(code, true), false, code);
    assert.equal(errorEndsSession(code, false), true, code);
  }
  for (const code of ['slow_consumer', 'version', 'full']) {
    assert.equal(errorEndsSession(code, true), true, code);
  }

  const s = await connected();
  s.ws.receive({ type: 'error', code: 'bad_state', message: 'no peer' });
  assert.equal(s.session.phase, 'connected');
  assert.equal(s.warnings.length, 1, 'logged');
  s.ws.receive({ type: 'error', code: 'slow_consumer', message: 'too slow' });
  assertEnded(s,
    { kind: 'error', code: 'slow_consumer', text: 'The connection to the server was too slow and was closed.', isError: true },
    { text: 'The connection to the server was too slow and was closed.', isError: true });
  assert.ok(s.pc.closed);
});

test('peer gone: the computer disconnecting ends a running session', async () => {
  const s = await connected();
  s.ws.receive({ type: 'bye', reason: 'peer_left' });
  assertEnded(s, { kind: 'bye', reason: 'peer_left', text: BYE_TEXT.peer_left, isError: true },
    { text: 'The computer disconnected.', isError: true });
  assert.ok(s.pc.closed);
  assert.equal(s.session.sendInput({ type: 'release_all' }), false, 'no input after the end');
});

test('hang up: a bye, then the join form with a calm message', async () => {
  const s = await connected();
  s.session.hangUp();
  assert.deepEqual(s.ws.sent.at(-1), { type: 'bye', reason: 'hangup' });
  assertEnded(s, { kind: 'hangup', text: BYE_TEXT.hangup, isError: false },
    { text: 'You disconnected.', isError: false });
  s.session.hangUp();
  assert.equal(s.ws.sent.filter((m) => m.type === 'bye').length, 1, 'once');
});

test('after the end nothing more happens', async () => {
  const s = await connected();
  s.ws.receive({ type: 'bye', reason: 'stopped' });
  const calls = s.view.calls.length;
  const frames = s.ws.frames.length;
  s.ws.receive({ type: 'offer', sdp: 'late' });
  s.ws.receive({ type: 'error', code: 'full' });
  s.pc.state('failed');
  s.pc.localCandidate('candidate:9 1 udp 1 192.0.2.7 1 typ host');
  s.session.fail('late');
  s.clock.advance(10 * CONNECT_TIMEOUT_MS);
  await settle();
  assert.equal(s.view.calls.length, calls);
  assert.equal(s.ws.frames.length, frames);
  assert.equal(s.session.outcome.reason, 'stopped');
  assert.equal(s.view.endedWith.text, 'The person stopped sharing.');
});

// ---- Input ----------------------------------------------------------------------------------

test('input: sent on the open channel; pointer moves dropped while it is backed up', async () => {
  const s = await connected();
  assert.equal(s.session.input, s.channel);
  assert.ok(s.session.sendInput({ type: 'pointer_move', x: 0.5, y: 0.5 }, true));
  s.channel.bufferedAmount = MAX_BUFFERED_INPUT + 1;
  assert.equal(s.session.sendInput({ type: 'pointer_move', x: 0.6, y: 0.5 }, true), false);
  assert.ok(s.session.sendInput({ type: 'pointer_button', button: 0, down: true }));
  s.channel.bufferedAmount = MAX_BUFFERED_INPUT;
  assert.ok(s.session.sendInput({ type: 'pointer_move', x: 0.7, y: 0.5 }, true), 'at the limit');
  assert.deepEqual(s.channel.sent, [
    { type: 'pointer_move', x: 0.5, y: 0.5 },
    { type: 'pointer_button', button: 0, down: true },
    { type: 'pointer_move', x: 0.7, y: 0.5 },
  ]);
  assert.equal(s.status.inputSent, 3);
  s.channel.readyState = 'closing';
  assert.equal(s.session.sendInput({ type: 'release_all' }), false);
});

test('input: only the channel labelled input is used', async () => {
  const s = await answered();
  s.pc.ondatachannel({ channel: { label: 'chat', readyState: 'open', bufferedAmount: 0, send() {} } });
  assert.equal(s.session.input, null);
  assert.equal(s.session.sendInput({ type: 'release_all' }), false);
});

test('the agent\'s other channels (clipboard, chat) go to onChannel, until the session ends', async () => {
  const channels = [];
  const s = await answered();
  s.session.onChannel = (channel, session) => channels.push([channel.label, session]);
  const input = { label: 'input', readyState: 'open', bufferedAmount: 0, send() {} };
  for (const label of ['clipboard', 'chat']) s.pc.ondatachannel({ channel: { label } });
  s.pc.ondatachannel({ channel: input });
  assert.deepEqual(channels, [['clipboard', s.session], ['chat', s.session]]);
  assert.equal(s.session.input, input);
  s.session.hangUp();
  s.pc.ondatachannel({ channel: { label: 'chat' } });
  assert.equal(channels.length, 2, 'none after the end');
});

// ---- The security code before consent --------------------------------------------------------

const FP_AGENT = 'sha-256 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB:3A:2E:61:9F:7B:90:42:5A:8E:1F:26:E7';
const FP_VIEWER = 'sha-256 0F:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF';
const CERTIFICATE = { fake: 'certificate' };
/** Waits (in real time: WebCrypto hashes on a thread) until `done()`, for up to 5 s. */
async function until(done) {
  const giveUp = Date.now() + 5000;
  while (!done() && Date.now() < giveUp) await new Promise((resolve) => setTimeout(resolve, 1));
}
const offerWith = (fp) => `${OFFER_SDP}a=fingerprint:${fp}\r\n`;

/** Joined with a certificate, the agent's fingerprint received. */
async function verified() {
  const s = start({ identity: { certificate: CERTIFICATE, fingerprint: FP_VIEWER } });
  s.ws.open();
  await until(() => s.ws.sent.length >= 2);
  s.ws.receive({ type: 'joined', agent_name: 'front-desk', ice: ICE });
  s.ws.receive({ type: 'fingerprint', fingerprint: FP_AGENT.toLowerCase() });
  // The digits take a hop through WebCrypto's thread.
  await until(() => s.status.sas);
  return s;
}

test('security code: join commits, the reveal follows the agent\'s fingerprint, the code shows while waiting', async () => {
  const s = await verified();
  const [, join, reveal, ...rest] = s.ws.sent;
  assert.deepEqual(join, { type: 'join', code: '482913075', commit: await commitment(FP_VIEWER) });
  assert.deepEqual(reveal, { type: 'fingerprint', fingerprint: FP_VIEWER });
  assert.deepEqual(rest, []);
  const sas = await sasFromFingerprints(FP_AGENT, FP_VIEWER);
  assert.equal(s.status.sas, sas);
  assert.match(s.view.stateText, new RegExp(`Security code ${sas}`));
  assert.equal(s.session.phase, 'waiting');
  // Once only.
  s.ws.receive({ type: 'fingerprint', fingerprint: FP_VIEWER });
  await settle();
  assert.equal(s.ws.sent.filter((m) => m.type === 'fingerprint').length, 1);
  assert.equal(s.status.sas, sas);
});

test('security code: the announced certificate\'s offer is answered on our own certificate', async () => {
  const s = await verified();
  const sas = s.status.sas;
  s.ws.receive({ type: 'offer', sdp: offerWith(FP_AGENT) });
  await settle();
  assert.deepEqual(s.peers[0].config.certificates, [CERTIFICATE]);
  assert.equal(s.ws.sent.filter((m) => m.type === 'answer').length, 1);
  assert.equal(s.status.sas, sas, 'the digits stay');
});

test('security code: an offer with another certificate than announced ends the session', async () => {
  const s = await verified();
  s.ws.receive({ type: 'offer', sdp: offerWith(FP_VIEWER) });
  await settle();
  assert.equal(s.peers.length, 0, 'no peer connection made');
  assert.deepEqual(s.ws.sent.at(-1), { type: 'bye', reason: 'hangup' });
  assert.equal(s.session.phase, 'ended');
  assert.deepEqual(s.view.endedWith, { text: IMPOSTOR_TEXT, isError: true });
});

test('security code: without a certificate of ours, no commitment and the agent\'s fingerprint is ignored', async () => {
  const s = joined();
  await settle();
  assert.deepEqual(s.ws.sent[1], { type: 'join', code: '482913075' });
  s.ws.receive({ type: 'fingerprint', fingerprint: FP_AGENT });
  await settle();
  assert.equal(s.ws.sent.filter((m) => m.type === 'fingerprint').length, 0);
  assert.equal(s.status.sas, null);
});
