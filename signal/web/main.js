// Tether's browser viewer. It speaks only what docs/protocol.md documents: the signaling
// WebSocket at <base>/ws and the `input` data channel the agent opens. This module wires the
// page: protocol.js (the wire format), session.js (one session, DOM-free), view.js (what is
// shown), input.js (remote control).

import { normaliseCode, signalingUrl } from './protocol.js';
import { normaliseFingerprint } from './sas.js';
import { Session } from './session.js';
import { View } from './view.js';
import { attachInput } from './input.js';

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
  // The short authentication string, once both fingerprints are known (sas.js).
  sas: null,
};
window.tether = status;

/** The running session, or null. */
let session = null;
// As a global too: tests (e2e/browser/viewer.mjs) reach the session's `input` channel.
Object.defineProperty(window, 'session', { get: () => session, configurable: true });

const clock = {
  now: () => performance.now(),
  setTimeout: (f, ms) => setTimeout(f, ms),
  clearTimeout: (t) => clearTimeout(t),
  setInterval: (f, ms) => setInterval(f, ms),
  clearInterval: (t) => clearInterval(t),
};

/**
 * The certificate for the next session and its fingerprint, or null where the browser cannot
 * tell the fingerprint or hash (no getFingerprints, no crypto.subtle outside a secure
 * context): the security code then comes with the offer.
 */
async function makeIdentity() {
  if (!globalThis.crypto || !globalThis.crypto.subtle) return null;
  const certificate = await RTCPeerConnection.generateCertificate({ name: 'ECDSA', namedCurve: 'P-256' });
  if (typeof certificate.getFingerprints !== 'function') return null;
  const sha256 = certificate.getFingerprints().find((f) => f.algorithm === 'sha-256');
  const fingerprint = sha256 && normaliseFingerprint(`${sha256.algorithm} ${sha256.value}`);
  return fingerprint ? { certificate, fingerprint } : null;
}

const view = new View(document);
const { ui } = view;

ui.form.addEventListener('submit', (e) => {
  e.preventDefault();
  const code = normaliseCode(ui.code.value);
  if (!code) {
    view.message('A session code has nine digits, like 482 913 075.');
    return;
  }
  if (session) return;
  view.joining();
  const started = new Session({
    code,
    name: ui.name.value.trim(),
    url: signalingUrl(location.href),
    connect: (url) => new WebSocket(url),
    createPeer: (config) => new RTCPeerConnection(config),
    makeIdentity,
    clock,
    view,
    status,
    log: console,
    onEnd: (ended) => {
      if (session === ended) session = null;
    },
  });
  session = started.ended ? null : started;
});

ui.hangup.addEventListener('click', () => session && session.hangUp());
view.bindToolbar(() => status.stats);
attachInput(ui.video, () => session, window);
window.addEventListener('pagehide', () => session && session.hangUp());

const fromLink = new URLSearchParams(location.search).get('code');
if (fromLink) ui.code.value = fromLink;
ui.code.focus();
