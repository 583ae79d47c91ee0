// The signaling wire protocol as docs/protocol.md documents it: building the viewer's
// messages, reading the server's, session codes, ICE configuration, candidates and SDP.
// Pure functions only: no DOM, no WebSocket, no RTCPeerConnection.

export const PROTOCOL_VERSION = 1;

/** "482 913-075" -> "482913075", or null when it is not nine digits. */
export function normaliseCode(text) {
  const digits = String(text).replace(/[\s-]/g, '');
  return /^[0-9]{9}$/.test(digits) ? digits : null;
}

/** The signaling WebSocket beside this page: http(s)://host/dir/ -> ws(s)://host/dir/ws. */
export function signalingUrl(pageHref) {
  const url = new URL('ws', pageHref);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  url.hash = '';
  url.search = '';
  return url.href;
}

// ---- The viewer's messages ------------------------------------------------------------------

export const hello = (name) => ({ type: 'hello', version: PROTOCOL_VERSION, role: 'viewer', name });
/** `join`, with the commitment to our certificate's fingerprint when there is one (sas.js). */
export function join(code, commit) {
  const msg = { type: 'join', code };
  if (commit) msg.commit = commit;
  return msg;
}
export const fingerprint = (fp) => ({ type: 'fingerprint', fingerprint: fp });
export const answer = (sdp) => ({ type: 'answer', sdp });

/** A local candidate (an RTCIceCandidate, or null for the end of candidates). */
export const candidate = (c) => ({ type: 'candidate', candidate: c ? c.toJSON() : null });

/** `bye` with a reason and, when there is one, a message for people. */
export function bye(reason, message) {
  const msg = { type: 'bye', reason };
  if (message !== undefined) msg.message = message;
  return msg;
}

/** One message as the text frame it travels in. */
export const encode = (msg) => JSON.stringify(msg);

// ---- The server's messages ------------------------------------------------------------------

/**
 * A text frame from the server as a message object, or null when it is none (not JSON, not an
 * object, no string `type`): such frames are ignored, as are types this viewer does not know.
 */
export function parseServerMessage(data) {
  if (typeof data !== 'string') return null;
  let msg;
  try {
    msg = JSON.parse(data);
  } catch (_) {
    return null;
  }
  if (!msg || typeof msg !== 'object' || Array.isArray(msg) || typeof msg.type !== 'string') {
    return null;
  }
  return msg;
}

/** The server's `ice` object (snake_case RTCConfiguration) as an RTCConfiguration. */
export function rtcConfiguration(ice) {
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

// ---- Candidates and SDP ---------------------------------------------------------------------

/** A candidate line naming an mDNS host (`….local`): the agent cannot resolve those. */
export function isMdnsCandidate(line) {
  const fields = line.split(' ');
  return fields.length > 4 && fields[4].toLowerCase().endsWith('.local');
}

/** Whether a relayed `candidate` field is a candidate to add (null ends the candidates). */
export const isRemoteCandidate = (c) => Boolean(c && typeof c === 'object' && c.candidate);

/**
 * A relayed candidate (RTCIceCandidateInit, its optional fields possibly left out) as
 * addIceCandidate wants it: with neither sdpMid nor sdpMLineIndex, the first m-line.
 */
export function candidateInit(c) {
  const init = { candidate: c.candidate, usernameFragment: c.usernameFragment };
  init.sdpMid = c.sdpMid !== undefined ? c.sdpMid : null;
  init.sdpMLineIndex = c.sdpMLineIndex !== undefined ? c.sdpMLineIndex : (c.sdpMid ? null : 0);
  return init;
}

/**
 * The first answer made passive: the agent (webrtc-rs) then starts DTLS as soon as its ICE is
 * up. With the browser as DTLS client the first frame came about 0.3 s later on loopback.
 */
export const passiveSetup = (sdp) => sdp.replace(/a=setup:active/g, 'a=setup:passive');
