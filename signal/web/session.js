// One viewer session, from Connect to its end, without the DOM: the signaling exchange, the
// peer connection's answer (and re-answers on the agent's ICE restarts), the deadlines and the
// error policy. Everything outside is injected, so tests drive it with fake sockets, peers,
// views and time:
//
//   connect(url)        -> a WebSocket-like object (send, close, readyState, on* handlers)
//   createPeer(config)  -> an RTCPeerConnection-like object
//   makeIdentity()      -> a promise of { certificate, fingerprint } (the certificate the peer
//                          connection will use, made before `join` so the security code can be
//                          compared while the person is asked), or of null
//   clock               -> { now, setTimeout, clearTimeout, setInterval, clearInterval }
//   view                -> what the person sees (view.js): message, state, showSession,
//                          showTrack, connected, stats, ended
//   status              -> window.tether: state, marks, firstFrameMs, stats, counters
//   onChannel(channel, session) -> the agent's other data channels (`clipboard`, `chat`), as
//                          they come; the session keeps `input` itself
//
// Phases (`session.phase`, mirrored in `status.state`):
//   joining -> waiting (joined; the person there is asked) -> connecting (offer answered)
//   -> connected <-> interrupted -> ended, with `session.outcome` saying how it ended.

import * as wire from './protocol.js';
import { summariseStats } from './stats.js';
import {
  commitment, fingerprint, normaliseFingerprint, sasFromFingerprints, sasFromSdps,
} from './sas.js';

export const STATS_EVERY_MS = 1000;
// Pointer moves are dropped (never buttons or keys) while this much input is still queued.
export const MAX_BUFFERED_INPUT = 64 * 1024;
/** From Connect to `joined`: the WebSocket, `hello` and `join` (the server answers at once). */
export const JOIN_TIMEOUT_MS = 15_000;
/**
 * From the offer, or from an interruption, to `connected` (the native viewer's
 * --connect-timeout). Waiting for the person's consent has no deadline here: the agent ends
 * that wait itself (`bye` with `consent_timeout`).
 */
export const CONNECT_TIMEOUT_MS = 30_000;

const SOCKET_OPEN = 1; // WebSocket.OPEN

// ---- What is shown --------------------------------------------------------------------------

export const ERROR_TEXT = {
  unknown_code: 'No computer has this code. Check the digits with the person.',
  expired: 'This code has expired. Ask the person for the new code.',
  busy: 'Someone else is already connected to this computer.',
  rate_limited: 'Too many wrong codes from this address.',
  malformed: 'The server did not understand the request.',
  unknown_type: 'The server does not know this request (is it an older version?).',
  too_large: 'A message was too large for the server.',
  version: 'This viewer and the server speak different protocol versions.',
  bad_state: 'The request came at the wrong time; connect again.',
  full: 'The server is full. Try again in a moment.',
  slow_consumer: 'The connection to the server was too slow and was closed.',
};

/** A sentence for an `error` message; unknown codes fall back to the server's message. */
export function errorText(err) {
  let text = ERROR_TEXT[err.code] || err.message || `Error: ${err.code}`;
  if (err.code === 'rate_limited' && Number.isFinite(err.retry_after_secs)) {
    text += ` Try again in ${Math.ceil(err.retry_after_secs)} s.`;
  }
  return text;
}

export const BYE_TEXT = {
  hangup: 'You disconnected.',
  stopped: 'The person stopped sharing.',
  denied: 'The person declined the request.',
  consent_timeout: 'Nobody answered the request in time.',
  ice_failed: 'No network path to the computer could be found.',
  peer_left: 'The computer disconnected.',
  server_shutdown: 'The server shut down.',
};

/** A sentence for a `bye`; reasons this viewer does not know still end the session. */
export function byeText(bye) {
  const why = BYE_TEXT[bye.reason] || 'The session ended.';
  return bye.message ? `${why} (${bye.message})` : why;
}

export const LOST_TEXT = 'The connection to the server was lost.';
export const IMPOSTOR_TEXT = 'The computer\'s connection offer carries another certificate than the one it announced: someone may be in between. Connect again and compare the security code.';
export const JOIN_TIMEOUT_TEXT = 'The server did not answer in time. Try again in a moment.';

// ---- The error policy -----------------------------------------------------------------------

/** The errors after which the server closes the connection (docs/protocol.md). */
const CLOSING_ERRORS = new Set(['slow_consumer', 'version', 'full']);

/**
 * Whether a server `error` ends the session. Before there is a peer connection every error
 * ends the attempt (a wrong code, a refusal); once media is being set up, only the errors
 * that close the connection do, and the others (a dropped message, say) are logged.
 */
export function errorEndsSession(code, hasPeer) {
  return !hasPeer || CLOSING_ERRORS.has(code);
}

// ---- The session ----------------------------------------------------------------------------

export class Session {
  constructor({ code, name, url, connect, createPeer, clock, view, status, log = console,
    onEnd = () => {}, makeIdentity = async () => null, onChannel = () => {} }) {
    this.code = code;
    this.name = name;
    this.createPeer = createPeer;
    /** Our certificate and its fingerprint, once made (null: none, the code comes later). */
    this.identity = null;
    this.identityReady = Promise.resolve()
      .then(makeIdentity)
      .then((identity) => { this.identity = identity || null; })
      .catch((err) => log.warn('no certificate made before the join', err));
    /** The agent's fingerprint, from its `fingerprint` message or its first offer. */
    this.agentFingerprint = null;
    this.agentName = '';
    this.clock = clock;
    this.view = view;
    this.status = status;
    this.log = log;
    this.onEnd = onEnd;
    this.onChannel = onChannel;
    this.phase = 'joining';
    /** How it ended: { kind, text, isError } and `reason` (bye), `code` (error), `which` (timeout). */
    this.outcome = null;
    this.pc = null;
    /** The agent's `input` data channel once it is open (tests may put a recorder here). */
    this.input = null;
    this.ice = null;
    this.pendingCandidates = [];
    // Offers are handled one after the other: an ICE restart's waits for the first answer.
    this.offers = Promise.resolve();
    this.statsTimer = null;
    this.connectTimer = null;
    this.lastSample = null;

    status.state = 'joining';
    status.joinedAt = clock.now();
    status.firstFrameMs = null;
    status.marks = {};
    status.sas = null;
    this.joinTimer = clock.setTimeout(() => this.onJoinTimeout(), JOIN_TIMEOUT_MS);
    this.ws = connect(url);
    this.ws.onopen = () => this.onOpen();
    this.ws.onmessage = (e) => this.onSignal(e.data);
    this.ws.onclose = () => this.end({ kind: 'lost', text: LOST_TEXT, isError: true });
    this.ws.onerror = () => {};
  }

  get ended() {
    return this.outcome !== null;
  }

  send(msg) {
    if (this.ws.readyState === SOCKET_OPEN) this.ws.send(wire.encode(msg));
  }

  /** Milliseconds from Connect to each step (open, joined, offer, connected, first_frame). */
  mark(step) {
    const { status } = this;
    if (status.joinedAt !== null && !(step in status.marks)) {
      status.marks[step] = Math.round(this.clock.now() - status.joinedAt);
    }
  }

  setPhase(phase, text, isError) {
    this.phase = phase;
    this.status.state = phase;
    this.view.state(text, isError);
  }

  async onOpen() {
    if (this.ended) return;
    this.mark('open');
    this.send(wire.hello(this.name));
    this.view.message('Looking for the computer…', true);
    await this.identityReady;
    const commit = this.identity
      ? await commitment(this.identity.fingerprint).catch(() => null)
      : null;
    if (!commit) this.identity = null;
    if (!this.ended) this.send(wire.join(this.code, commit));
  }

  onSignal(data) {
    const msg = wire.parseServerMessage(data);
    if (!msg || this.ended) return;
    switch (msg.type) {
      case 'joined':
        this.onJoined(msg);
        break;
      case 'offer':
        this.mark('offer');
        this.offers = this.offers
          .then(() => this.onOffer(msg.sdp))
          .catch((err) => this.fail(`Could not connect: ${(err && err.message) || err}`));
        break;
      case 'candidate':
        this.onRemoteCandidate(msg.candidate);
        break;
      case 'fingerprint':
        this.onAgentFingerprint(msg.fingerprint);
        break;
      case 'bye':
        this.end({ kind: 'bye', reason: msg.reason, text: byeText(msg), isError: msg.reason !== 'hangup' });
        break;
      case 'error':
        this.onError(msg);
        break;
      default:
        break;
    }
  }

  onJoined(msg) {
    if (this.phase !== 'joining') return;
    this.clearJoinTimer();
    this.mark('joined');
    this.ice = msg.ice;
    this.agentName = msg.agent_name || 'the computer';
    this.view.showSession();
    this.setPhase('waiting', this.waitingText());
  }

  waitingText() {
    const text = `Waiting for the person at ${this.agentName} to allow you…`;
    const sas = this.status.sas;
    return sas ? `${text} Security code ${sas}: read it to them; it must match the one on their screen.` : text;
  }

  /** The agent's fingerprint before its offer: reveal ours and show the digits, once. */
  async onAgentFingerprint(text) {
    if (!this.identity || this.agentFingerprint || this.pc) return;
    if (this.phase !== 'joining' && this.phase !== 'waiting') return;
    const theirs = normaliseFingerprint(text);
    if (!theirs) return;
    this.agentFingerprint = theirs;
    const own = this.identity.fingerprint;
    this.send(wire.fingerprint(own));
    await this.showSas(sasFromFingerprints(theirs, own));
  }

  onError(err) {
    if (errorEndsSession(err.code, this.pc !== null)) {
      this.end({ kind: 'error', code: err.code, text: errorText(err), isError: true });
    } else {
      this.log.warn('signaling error', err);
    }
  }

  onJoinTimeout() {
    this.joinTimer = null;
    this.end({ kind: 'timeout', which: 'join', text: JOIN_TIMEOUT_TEXT, isError: true });
  }

  clearJoinTimer() {
    if (this.joinTimer !== null) this.clock.clearTimeout(this.joinTimer);
    this.joinTimer = null;
  }

  /** Arms the deadline for `connected`, unless it is already running. */
  armConnectDeadline() {
    if (this.connectTimer !== null) return;
    this.connectTimer = this.clock.setTimeout(() => this.onConnectTimeout(), CONNECT_TIMEOUT_MS);
  }

  clearConnectDeadline() {
    if (this.connectTimer !== null) this.clock.clearTimeout(this.connectTimer);
    this.connectTimer = null;
  }

  onConnectTimeout() {
    this.connectTimer = null;
    if (this.ended) return;
    this.log.warn(`not connected within ${CONNECT_TIMEOUT_MS} ms`);
    this.send(wire.bye('ice_failed'));
    this.end({ kind: 'timeout', which: 'connect', text: BYE_TEXT.ice_failed, isError: true });
  }

  async onOffer(sdp) {
    if (this.ended) return;
    const offered = fingerprint(sdp);
    if (this.agentFingerprint && offered !== this.agentFingerprint) {
      this.send(wire.bye('hangup'));
      this.end({ kind: 'error', code: 'certificate', text: IMPOSTOR_TEXT, isError: true });
      return;
    }
    this.agentFingerprint = offered;
    if (this.pc) {
      // A new offer on a live session: the agent restarts ICE. Answer on the same connection.
      const pc = this.pc;
      await pc.setRemoteDescription({ type: 'offer', sdp });
      const renegotiated = await pc.createAnswer();
      await pc.setLocalDescription(renegotiated);
      if (!this.ended) this.send(wire.answer(pc.localDescription.sdp));
      return;
    }
    this.clearJoinTimer();
    this.setPhase('connecting', 'Connecting…');
    this.armConnectDeadline();
    const config = wire.rtcConfiguration(this.ice);
    if (this.identity) config.certificates = [this.identity.certificate];
    const pc = this.createPeer(config);
    this.pc = pc;
    pc.onicecandidate = (e) => this.onLocalCandidate(e.candidate);
    pc.ontrack = (e) => this.onTrack(e.track, e.receiver);
    pc.ondatachannel = (e) => {
      if (this.ended) return;
      if (e.channel.label === 'input') this.input = e.channel;
      else this.onChannel(e.channel, this);
    };
    pc.onconnectionstatechange = () => this.onConnectionState(pc.connectionState);
    await pc.setRemoteDescription({ type: 'offer', sdp });
    const answer = await pc.createAnswer();
    await pc.setLocalDescription({ type: 'answer', sdp: wire.passiveSetup(answer.sdp) });
    if (this.ended) return;
    this.send(wire.answer(pc.localDescription.sdp));
    for (const c of this.pendingCandidates.splice(0)) this.addCandidate(c);
    if (!this.status.sas) this.showSas(sasFromSdps(sdp, pc.localDescription.sdp));
  }

  /** The short authentication string (a promise of it), for the person to compare. */
  async showSas(digits) {
    const sas = await Promise.resolve(digits).catch(() => null);
    if (this.ended || !sas || this.status.sas) return;
    this.status.sas = sas;
    this.log.info(`sas: ${sas}`);
    if (this.phase === 'waiting') this.setPhase('waiting', this.waitingText());
    if (this.phase === 'connected') this.setPhase('connected', this.connectedText());
  }

  connectedText() {
    const text = 'Connected. Click the picture to control the computer.';
    const sas = this.status.sas;
    return sas ? `${text} Security code ${sas}: it must match the one on the computer.` : text;
  }

  onLocalCandidate(candidate) {
    if (this.ended) return;
    // The agent cannot resolve mDNS names; the connection still forms from the agent's
    // candidates (ours are then learned as peer-reflexive), so ours are just left out.
    if (candidate && wire.isMdnsCandidate(candidate.candidate)) {
      this.status.mdnsDropped += 1;
      return;
    }
    this.send(wire.candidate(candidate));
  }

  onRemoteCandidate(candidate) {
    if (!wire.isRemoteCandidate(candidate)) return;
    if (this.pc && this.pc.remoteDescription) this.addCandidate(candidate);
    else this.pendingCandidates.push(candidate);
  }

  addCandidate(c) {
    this.pc.addIceCandidate(wire.candidateInit(c)).catch((err) => this.log.warn('candidate refused', err));
  }

  onTrack(track, receiver) {
    if (this.ended) return;
    // The screen should be shown the moment it is decoded, not smoothed: ask for no
    // jitter-buffer target (the agent's playout-delay extension asks Chromium the same).
    if (receiver && 'jitterBufferTarget' in receiver) receiver.jitterBufferTarget = 0;
    this.view.showTrack(track, () => this.onFirstFrame());
  }

  onFirstFrame() {
    const { status } = this;
    if (this.ended || status.firstFrameMs !== null || status.joinedAt === null) return;
    status.firstFrameMs = this.clock.now() - status.joinedAt;
    this.mark('first_frame');
    this.log.info(`first frame ${status.firstFrameMs.toFixed(0)} ms after Connect`);
  }

  onConnectionState(state) {
    if (this.ended) return;
    if (state === 'connected') {
      this.clearConnectDeadline();
      this.mark('connected');
      this.setPhase('connected', this.connectedText());
      this.view.connected();
      if (this.statsTimer === null) {
        this.statsTimer = this.clock.setInterval(() => {
          this.updateStats().catch((err) => this.log.warn('stats', err));
        }, STATS_EVERY_MS);
      }
    } else if (state === 'failed') {
      this.send(wire.bye('ice_failed'));
      this.end({ kind: 'ice_failed', text: BYE_TEXT.ice_failed, isError: true });
    } else if (state === 'disconnected') {
      // The agent restarts ICE after a few seconds of this; its offer is answered above.
      this.setPhase('interrupted', 'Connection interrupted; trying to recover…', true);
      this.armConnectDeadline();
    }
  }

  /** Sends one input message; droppable ones (pointer moves) not while input is queued. */
  sendInput(msg, droppable) {
    const dc = this.input;
    if (this.ended || !dc || dc.readyState !== 'open') return false;
    if (droppable && dc.bufferedAmount > MAX_BUFFERED_INPUT) return false;
    dc.send(JSON.stringify(msg));
    this.status.inputSent += 1;
    return true;
  }

  hangUp() {
    if (this.ended) return;
    this.send(wire.bye('hangup'));
    this.end({ kind: 'hangup', text: BYE_TEXT.hangup, isError: false });
  }

  /** Ends on a failure of our own, telling the agent why. */
  fail(text) {
    if (this.ended) return;
    this.send(wire.bye('hangup', text));
    this.end({ kind: 'failed', text, isError: true });
  }

  end(outcome) {
    if (this.ended) return;
    this.outcome = outcome;
    this.phase = 'ended';
    this.clearJoinTimer();
    this.clearConnectDeadline();
    if (this.statsTimer !== null) this.clock.clearInterval(this.statsTimer);
    this.statsTimer = null;
    if (this.pc) this.pc.close();
    this.ws.onclose = null;
    this.ws.close();
    this.status.state = 'ended';
    this.view.ended(outcome.text, outcome.isError);
    this.onEnd(this);
  }

  async updateStats() {
    if (!this.pc || this.ended) return;
    const report = await this.pc.getStats();
    if (this.ended) return;
    const stats = summariseStats(report, this.lastSample, this.clock.now());
    this.lastSample = stats;
    this.status.stats = stats;
    if (stats.framesDecoded > 0) this.onFirstFrame();
    this.view.stats(stats);
  }
}
