// Tether's browser viewer. It speaks only what docs/protocol.md documents: the signaling
// WebSocket at <base>/ws and the `input` data channel the agent opens.
'use strict';

const PROTOCOL_VERSION = 1;
const STATS_EVERY_MS = 1000;
// Pointer moves are dropped (never buttons or keys) while this much input is still queued.
const MAX_BUFFERED_INPUT = 64 * 1024;

// ---- Pure helpers (no DOM) ------------------------------------------------------------------

/** "482 913-075" -> "482913075", or null when it is not nine digits. */
function normaliseCode(text) {
  const digits = text.replace(/[\s-]/g, '');
  return /^[0-9]{9}$/.test(digits) ? digits : null;
}

/** The signaling WebSocket beside this page: http(s)://host/dir/ -> ws(s)://host/dir/ws. */
function signalingUrl(pageHref) {
  const url = new URL('ws', pageHref);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  url.hash = '';
  url.search = '';
  return url.href;
}

/** The server's `ice` object (snake_case RTCConfiguration) as an RTCConfiguration. */
function rtcConfiguration(ice) {
  const servers = (ice && Array.isArray(ice.ice_servers)) ? ice.ice_servers : [];
  return {
    iceServers: servers.map((s) => {
      const server = { urls: s.urls };
      if (s.username !== undefined) server.username = s.username;
      if (s.credential !== undefined) server.credential = s.credential;
      return server;
    }),
    iceTransportPolicy: ice && ice.ice_transport_policy === 'relay' ? 'relay' : 'all',
  };
}

/** A candidate line naming an mDNS host (`….local`): the agent cannot resolve those. */
function isMdnsCandidate(line) {
  const fields = line.split(' ');
  return fields.length > 4 && fields[4].toLowerCase().endsWith('.local');
}

const ERROR_TEXT = {
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
function errorText(err) {
  let text = ERROR_TEXT[err.code] || err.message || `Error: ${err.code}`;
  if (err.code === 'rate_limited' && Number.isFinite(err.retry_after_secs)) {
    text += ` Try again in ${Math.ceil(err.retry_after_secs)} s.`;
  }
  return text;
}

const BYE_TEXT = {
  hangup: 'You disconnected.',
  stopped: 'The person stopped sharing.',
  denied: 'The person declined the request.',
  consent_timeout: 'Nobody answered the request in time.',
  ice_failed: 'No network path to the computer could be found.',
  peer_left: 'The computer disconnected.',
  server_shutdown: 'The server shut down.',
};

function byeText(bye) {
  const why = BYE_TEXT[bye.reason] || 'The session ended.';
  return bye.message ? `${why} (${bye.message})` : why;
}

/** Where the picture is inside an element showing it with `object-fit: contain`. */
function contentRect(box, videoWidth, videoHeight) {
  if (!videoWidth || !videoHeight || !box.width || !box.height) return null;
  const scale = Math.min(box.width / videoWidth, box.height / videoHeight);
  const width = videoWidth * scale;
  const height = videoHeight * scale;
  return {
    left: box.left + (box.width - width) / 2,
    top: box.top + (box.height - height) / 2,
    width,
    height,
  };
}

const clamp01 = (v) => Math.min(1, Math.max(0, v));

/** A client position as 0..1 of the shared display, or null with no picture yet. */
function normalisePointer(clientX, clientY, rect) {
  if (!rect) return null;
  return {
    x: clamp01((clientX - rect.left) / rect.width),
    y: clamp01((clientY - rect.top) / rect.height),
  };
}

/** WheelEvent deltas as notches: pixels / 100, lines as they are, pages as 3 lines. */
function wheelNotches(deltaX, deltaY, deltaMode) {
  const per = deltaMode === 0 ? 0.01 : (deltaMode === 2 ? 3 : 1);
  const limit = (v) => Math.max(-100, Math.min(100, v * per));
  return { dx: limit(deltaX), dy: limit(deltaY) };
}

// ---- The page ------------------------------------------------------------------------------

/** What tests (and curious support staff in the console) can read. */
const status = {
  state: 'idle',
  joinedAt: null,
  firstFrameMs: null,
  // Milliseconds from Connect to each step (open, joined, offer, connected, first_frame).
  marks: {},
  stats: null,
  inputSent: 0,
  mdnsDropped: 0,
};
window.tether = status;

const $ = (id) => document.getElementById(id);
const ui = {
  joinView: $('join-view'), sessionView: $('session-view'), form: $('join-form'),
  code: $('code'), name: $('name'), join: $('join'), message: $('message'), state: $('state'),
  video: $('video'), stats: $('stats'), toggleStats: $('toggle-stats'),
  toggleFullscreen: $('toggle-fullscreen'), unmute: $('unmute'), hangup: $('hangup'),
};

let session = null;

function showMessage(text, info) {
  ui.message.textContent = text;
  ui.message.className = info ? 'info' : '';
}

function mark(step) {
  if (status.joinedAt !== null && !(step in status.marks)) {
    status.marks[step] = Math.round(performance.now() - status.joinedAt);
  }
}

function setState(state, text, isError) {
  status.state = state;
  ui.state.textContent = text;
  ui.state.className = isError ? 'error' : '';
}

class Session {
  constructor(code, name) {
    this.code = code;
    this.name = name;
    this.pc = null;
    this.input = null;
    this.ice = null;
    this.pendingCandidates = [];
    this.stream = new MediaStream();
    this.heldKeys = new Set();
    this.ended = false;
    this.statsTimer = null;
    this.lastSample = null;
    this.ws = new WebSocket(signalingUrl(location.href));
    this.ws.onopen = () => this.onOpen();
    this.ws.onmessage = (e) => this.onSignal(e.data);
    this.ws.onclose = () => this.end('The connection to the server was lost.', true);
    this.ws.onerror = () => {};
  }

  send(msg) {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg));
  }

  onOpen() {
    mark('open');
    this.send({ type: 'hello', version: PROTOCOL_VERSION, role: 'viewer', name: this.name });
    this.send({ type: 'join', code: this.code });
    showMessage('Looking for the computer…', true);
  }

  onSignal(data) {
    let msg;
    try {
      msg = JSON.parse(data);
    } catch (_) {
      return;
    }
    if (!msg || typeof msg !== 'object') return;
    switch (msg.type) {
      case 'joined':
        mark('joined');
        this.ice = msg.ice;
        this.showSession();
        setState('waiting', `Waiting for the person at ${msg.agent_name || 'the computer'} to allow you…`);
        break;
      case 'offer':
        mark('offer');
        this.onOffer(msg.sdp).catch((err) => this.fail(`Could not connect: ${err.message || err}`));
        break;
      case 'candidate':
        this.onRemoteCandidate(msg.candidate);
        break;
      case 'bye':
        this.end(byeText(msg), msg.reason !== 'hangup');
        break;
      case 'error':
        this.onError(msg);
        break;
      default:
        break;
    }
  }

  onError(err) {
    // Before a session every error ends the attempt; during one, only the closing ones do.
    if (!this.pc || err.code === 'slow_consumer' || err.code === 'version' || err.code === 'full') {
      this.end(errorText(err), true);
    } else {
      console.warn('signaling error', err);
    }
  }

  async onOffer(sdp) {
    if (this.pc) {
      await this.pc.setRemoteDescription({ type: 'offer', sdp });
      const renegotiated = await this.pc.createAnswer();
      await this.pc.setLocalDescription(renegotiated);
      this.send({ type: 'answer', sdp: this.pc.localDescription.sdp });
      return;
    }
    setState('connecting', 'Connecting…');
    const pc = new RTCPeerConnection(rtcConfiguration(this.ice));
    this.pc = pc;
    pc.onicecandidate = (e) => this.onLocalCandidate(e.candidate);
    pc.ontrack = (e) => this.onTrack(e.track, e.receiver);
    pc.ondatachannel = (e) => {
      if (e.channel.label === 'input') this.input = e.channel;
    };
    pc.onconnectionstatechange = () => this.onConnectionState(pc.connectionState);
    await pc.setRemoteDescription({ type: 'offer', sdp });
    const answer = await pc.createAnswer();
    // Passive: the agent (webrtc-rs) then starts DTLS as soon as its ICE is up. With the
    // browser as DTLS client the first frame came about 0.3 s later on loopback.
    answer.sdp = answer.sdp.replace(/a=setup:active/g, 'a=setup:passive');
    await pc.setLocalDescription(answer);
    this.send({ type: 'answer', sdp: pc.localDescription.sdp });
    for (const c of this.pendingCandidates.splice(0)) this.addCandidate(c);
  }

  onLocalCandidate(candidate) {
    if (!candidate) {
      this.send({ type: 'candidate', candidate: null });
      return;
    }
    // The agent cannot resolve mDNS names; the connection still forms from the agent's
    // candidates (ours are then learned as peer-reflexive), so ours are just left out.
    if (isMdnsCandidate(candidate.candidate)) {
      status.mdnsDropped += 1;
      return;
    }
    this.send({ type: 'candidate', candidate: candidate.toJSON() });
  }

  onRemoteCandidate(candidate) {
    if (!candidate || !candidate.candidate) return;
    if (this.pc && this.pc.remoteDescription) this.addCandidate(candidate);
    else this.pendingCandidates.push(candidate);
  }

  addCandidate(c) {
    const init = { candidate: c.candidate, usernameFragment: c.usernameFragment };
    init.sdpMid = c.sdpMid !== undefined ? c.sdpMid : null;
    init.sdpMLineIndex = c.sdpMLineIndex !== undefined ? c.sdpMLineIndex : (c.sdpMid ? null : 0);
    this.pc.addIceCandidate(init).catch((err) => console.warn('candidate refused', err));
  }

  onTrack(track, receiver) {
    // The screen should be shown the moment it is decoded, not smoothed: ask for no
    // jitter-buffer target (the agent's playout-delay extension asks Chromium the same).
    // Video and audio come in separate streams (no lip-sync wait); one element plays both.
    if (receiver && 'jitterBufferTarget' in receiver) receiver.jitterBufferTarget = 0;
    this.stream.addTrack(track);
    if (ui.video.srcObject !== this.stream) ui.video.srcObject = this.stream;
    if (track.kind === 'video' && ui.video.requestVideoFrameCallback) {
      ui.video.requestVideoFrameCallback(() => this.onFirstFrame());
    }
    ui.video.play().catch(() => {
      // No permission to play sound yet: play muted and offer a button.
      ui.video.muted = true;
      ui.unmute.hidden = false;
      ui.video.play().catch(() => {});
    });
  }

  onFirstFrame() {
    if (status.firstFrameMs === null && status.joinedAt !== null) {
      status.firstFrameMs = performance.now() - status.joinedAt;
      mark('first_frame');
      console.info(`first frame ${status.firstFrameMs.toFixed(0)} ms after Connect`);
    }
  }

  onConnectionState(state) {
    if (state === 'connected') {
      mark('connected');
      setState('connected', 'Connected. Click the picture to control the computer.');
      ui.video.focus();
      if (!this.statsTimer) this.statsTimer = setInterval(() => this.updateStats(), STATS_EVERY_MS);
    } else if (state === 'failed') {
      this.send({ type: 'bye', reason: 'ice_failed' });
      this.end(BYE_TEXT.ice_failed, true);
    } else if (state === 'disconnected') {
      setState('interrupted', 'Connection interrupted; trying to recover…', true);
    }
  }

  showSession() {
    ui.joinView.hidden = true;
    ui.sessionView.hidden = false;
  }

  sendInput(msg, droppable) {
    const dc = this.input;
    if (!dc || dc.readyState !== 'open') return;
    if (droppable && dc.bufferedAmount > MAX_BUFFERED_INPUT) return;
    dc.send(JSON.stringify(msg));
    status.inputSent += 1;
  }

  releaseAll() {
    this.heldKeys.clear();
    this.sendInput({ type: 'release_all' });
  }

  hangUp() {
    this.send({ type: 'bye', reason: 'hangup' });
    this.end(BYE_TEXT.hangup, false);
  }

  fail(text) {
    this.send({ type: 'bye', reason: 'hangup', message: text });
    this.end(text, true);
  }

  end(text, isError) {
    if (this.ended) return;
    this.ended = true;
    clearInterval(this.statsTimer);
    if (this.pc) this.pc.close();
    this.ws.onclose = null;
    this.ws.close();
    ui.video.srcObject = null;
    ui.stats.hidden = true;
    if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
    ui.sessionView.hidden = true;
    ui.joinView.hidden = false;
    ui.join.disabled = false;
    status.state = 'ended';
    showMessage(text, !isError);
    session = null;
  }

  async updateStats() {
    if (!this.pc) return;
    const report = await this.pc.getStats();
    const stats = summariseStats(report, this.lastSample);
    this.lastSample = stats;
    status.stats = stats;
    if (stats.framesDecoded > 0) this.onFirstFrame();
    if (!ui.stats.hidden) ui.stats.textContent = formatStats(stats);
  }
}

/** The figures of the overlay from an RTCStatsReport; rates from the previous sample. */
function summariseStats(report, previous) {
  const byId = new Map();
  report.forEach((s) => byId.set(s.id, s));
  const out = {
    at: performance.now(), framesDecoded: 0, fps: 0, bytesReceived: 0, kbps: 0,
    decodeMs: 0, width: 0, height: 0, codec: '', audioCodec: '', packetsLost: 0,
    rttMs: null, pair: '',
  };
  let totalDecodeTime = 0;
  report.forEach((s) => {
    if (s.type === 'inbound-rtp' && s.kind === 'video') {
      out.framesDecoded = s.framesDecoded || 0;
      out.bytesReceived = s.bytesReceived || 0;
      out.width = s.frameWidth || 0;
      out.height = s.frameHeight || 0;
      out.packetsLost = s.packetsLost || 0;
      totalDecodeTime = s.totalDecodeTime || 0;
      const codec = byId.get(s.codecId);
      if (codec) out.codec = codec.mimeType;
    } else if (s.type === 'inbound-rtp' && s.kind === 'audio') {
      const codec = byId.get(s.codecId);
      if (codec) out.audioCodec = codec.mimeType;
    } else if (s.type === 'transport' && s.selectedCandidatePairId) {
      const pair = byId.get(s.selectedCandidatePairId);
      if (pair) {
        if (Number.isFinite(pair.currentRoundTripTime)) out.rttMs = pair.currentRoundTripTime * 1000;
        const describe = (id) => {
          const c = byId.get(id);
          return c ? `${c.candidateType} ${c.address || c.ip || '?'}:${c.port}` : '?';
        };
        out.pair = `${describe(pair.localCandidateId)} -> ${describe(pair.remoteCandidateId)}`;
      }
    }
  });
  out.totalDecodeTime = totalDecodeTime;
  if (previous) {
    const secs = Math.max(0.001, (out.at - previous.at) / 1000);
    const frames = out.framesDecoded - previous.framesDecoded;
    out.fps = frames / secs;
    out.kbps = (out.bytesReceived - previous.bytesReceived) * 8 / 1000 / secs;
    out.decodeMs = frames > 0 ? (totalDecodeTime - previous.totalDecodeTime) * 1000 / frames : 0;
  }
  return out;
}

function formatStats(s) {
  return [
    `fps        ${s.fps.toFixed(1)}`,
    `bitrate    ${s.kbps.toFixed(0)} kbit/s`,
    `rtt        ${s.rttMs === null ? '?' : s.rttMs.toFixed(1) + ' ms'}`,
    `decode     ${s.decodeMs.toFixed(2)} ms`,
    `resolution ${s.width}x${s.height}`,
    `codec      ${s.codec}${s.audioCodec ? ' + ' + s.audioCodec : ''}`,
    `frames     ${s.framesDecoded} (lost packets ${s.packetsLost})`,
    `ice        ${s.pair}`,
  ].join('\n');
}

// ---- Wiring --------------------------------------------------------------------------------

ui.form.addEventListener('submit', (e) => {
  e.preventDefault();
  const code = normaliseCode(ui.code.value);
  if (!code) {
    showMessage('A session code has nine digits, like 482 913 075.');
    return;
  }
  if (session) return;
  status.joinedAt = performance.now();
  status.firstFrameMs = null;
  status.marks = {};
  ui.join.disabled = true;
  session = new Session(code, ui.name.value.trim());
});

ui.hangup.addEventListener('click', () => session && session.hangUp());
ui.unmute.addEventListener('click', () => {
  ui.video.muted = false;
  ui.unmute.hidden = true;
  ui.video.focus();
});
ui.toggleStats.addEventListener('click', () => toggleStats());
ui.toggleFullscreen.addEventListener('click', () => toggleFullscreen());

function toggleStats() {
  ui.stats.hidden = !ui.stats.hidden;
  if (!ui.stats.hidden && status.stats) ui.stats.textContent = formatStats(status.stats);
  ui.video.focus();
}

function toggleFullscreen() {
  if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
  else ui.sessionView.requestFullscreen().catch(() => {});
  ui.video.focus();
}

function pointerAt(e) {
  const rect = contentRect(ui.video.getBoundingClientRect(), ui.video.videoWidth, ui.video.videoHeight);
  return normalisePointer(e.clientX, e.clientY, rect);
}

function onPointer(e) {
  if (!session) return;
  const at = pointerAt(e);
  if (!at) return;
  session.sendInput({ type: 'pointer_move', x: at.x, y: at.y }, e.type === 'pointermove');
  if (e.type === 'pointerdown' || e.type === 'pointerup') {
    e.preventDefault();
    const down = e.type === 'pointerdown';
    if (down) {
      ui.video.focus();
      ui.video.setPointerCapture(e.pointerId);
    }
    session.sendInput({ type: 'pointer_button', button: e.button, down });
  }
}

ui.video.addEventListener('pointermove', onPointer);
ui.video.addEventListener('pointerdown', onPointer);
ui.video.addEventListener('pointerup', onPointer);
ui.video.addEventListener('contextmenu', (e) => e.preventDefault());
ui.video.addEventListener('wheel', (e) => {
  e.preventDefault();
  if (!session) return;
  const { dx, dy } = wheelNotches(e.deltaX, e.deltaY, e.deltaMode);
  if (dx !== 0 || dy !== 0) session.sendInput({ type: 'wheel', dx, dy });
}, { passive: false });

function onKey(e) {
  if (!session || !e.code) return;
  // Every key goes to the computer, none to the page (the toolbar has the page's own buttons).
  e.preventDefault();
  const down = e.type === 'keydown';
  if (down && (e.repeat || session.heldKeys.has(e.code))) return;
  if (down) session.heldKeys.add(e.code);
  else session.heldKeys.delete(e.code);
  session.sendInput({ type: 'key', code: e.code, down });
}

ui.video.addEventListener('keydown', onKey);
ui.video.addEventListener('keyup', onKey);
ui.video.addEventListener('blur', () => session && session.releaseAll());
window.addEventListener('blur', () => session && session.releaseAll());
window.addEventListener('pagehide', () => session && session.hangUp());

const fromLink = new URLSearchParams(location.search).get('code');
if (fromLink) ui.code.value = fromLink;
ui.code.focus();
