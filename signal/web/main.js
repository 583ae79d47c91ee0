// Tether's browser viewer. It speaks only what docs/protocol.md documents: the signaling
// WebSocket at <base>/ws, the `input`, `clipboard`, `chat` and `files` data channels the agent
// opens and the `file:<id>` channels of file transfers. This module wires the page:
// protocol.js (the wire format), session.js (one session, DOM-free), view.js (what is shown),
// input.js (remote control), clipboard.js, chat.js and files.js (the other channels, DOM-free),
// chatview.js (the chat panel) and filesview.js (the files panel).

import { normaliseCode, signalingUrl } from './protocol.js';
import { normaliseFingerprint } from './sas.js';
import { Session } from './session.js';
import { View } from './view.js';
import { attachInput } from './input.js';
import {
  CLIPBOARD_CHANNEL, ClipboardSync, NOTICE, newClipboardStatus, typeClipboard,
} from './clipboard.js';
import { CHAT_CHANNEL, Chat, ChatLog } from './chat.js';
import { ChatView } from './chatview.js';
import { FILES_CHANNEL, FileTransfers, newFilesState, transferIdOf } from './files.js';
import { FilesView } from './filesview.js';

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
  // The session's chat, oldest first: { from: 'you' | 'computer', text, time } (chat.js).
  chat: [],
  // chatUnread (defined below): the computer's messages not yet seen (the panel closed).
  // The clipboard exchange (clipboard.js newClipboardStatus), anew for each session.
  clipboard: newClipboardStatus(),
  /** Sends a chat message as the Send button does: { ok: true } or { ok: false, error }. */
  sendChat: (text) => sendChat(text),
  // File transfers both ways, oldest first, updated in place (files.js FileTransfers): { id,
  // direction: 'send' | 'receive', name, size, bytes, state, rate, reason?, by?, savedAs?,
  // sha256?, url?, ms? }; and whether files may be sent (files.js newFilesState).
  files: [],
  fileSharing: newFilesState(),
  /** Sends a File (or Blob with a name) as Send file does: { ok, id, state, reason? }. */
  sendFile: (file) => sendFile(file),
  /** Cancels a running transfer as its Cancel button does: whether it was running. */
  cancelFile: (id) => files.cancel(id),
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

// Events for tests (e2e/browser/viewer.mjs listens): `tether-chat` with each log entry,
// `tether-clipboard` with { kind: 'answer', seq, type, reason? }, { kind: 'received', seq,
// text, written } and { kind: 'notice', text, copy? }, `tether-file` with a copy of a transfer's
// record each time its state changes.
const emit = (name, detail) => window.dispatchEvent(new CustomEvent(name, { detail }));

// ---- Chat -----------------------------------------------------------------------------------

const chatLog = new ChatLog();
status.chat = chatLog.entries;
const chatView = new ChatView(document, chatLog, { send: (text) => chat.send(text), video: ui.video });
const chat = new Chat({
  log: chatLog,
  onEntry: (entry) => {
    chatView.add(entry);
    emit('tether-chat', entry);
  },
});
Object.defineProperty(status, 'chatUnread', { get: () => chatLog.unread, enumerable: true });

function sendChat(text) {
  const { error } = chat.send(text);
  return error ? { ok: false, error } : { ok: true };
}

/** The agent's `chat` channel for `owner`: messages both ways while it is open. */
function wireChat(owner, channel) {
  const send = (frame) => {
    if (owner.ended || channel.readyState !== 'open') return false;
    channel.send(frame);
    return true;
  };
  const opened = () => {
    if (owner !== session) return;
    chat.attach(send);
    chatView.available(true);
  };
  channel.onopen = opened;
  channel.onclose = () => {
    if (chat.sendFrame !== send) return;
    chat.detach();
    chatView.available(false);
  };
  channel.onmessage = (e) => {
    if (owner === session) chat.onMessage(e.data);
  };
  if (channel.readyState === 'open') opened();
}

// ---- Clipboard ------------------------------------------------------------------------------

/** The running session's clipboard exchange, or null. */
let clipboard = null;

/** Why the browser's clipboard cannot be used at all, or null. */
function clipboardMissing() {
  if (navigator.clipboard && navigator.clipboard.readText) return null;
  return window.isSecureContext ? NOTICE.readRefused : NOTICE.insecure;
}

function readClipboard() {
  const missing = clipboardMissing();
  if (missing) return Promise.reject(Object.assign(new Error(missing), { notice: missing }));
  return navigator.clipboard.readText();
}

const writeClipboard = (text) => (navigator.clipboard && navigator.clipboard.writeText
  ? navigator.clipboard.writeText(text)
  : Promise.reject(new Error('no clipboard')));

/**
 * The Copy button's write: the asynchronous clipboard, or (on pages that are no secure
 * context, which have none) a selected text area copied during the click.
 */
function copyOnClick(text) {
  return writeClipboard(text).catch(() => {
    const area = document.createElement('textarea');
    area.value = text;
    area.setAttribute('readonly', '');
    area.className = 'offscreen';
    document.body.append(area);
    area.select();
    const copied = document.execCommand('copy');
    area.remove();
    if (!copied) throw new Error('copy refused');
  });
}

function showNotice(notice) {
  status.clipboard.lastNotice = notice;
  view.notice(notice, (text) => {
    if (clipboard) clipboard.copy(text, copyOnClick).finally(() => ui.video.focus());
  });
  emit('tether-clipboard', { kind: 'notice', ...notice });
}

/** The agent's `clipboard` channel for `owner`. */
function wireClipboard(owner, channel) {
  if (owner !== session) return;
  const sync = new ClipboardSync({
    send: (frame) => {
      if (owner.ended || channel.readyState !== 'open') return false;
      channel.send(frame);
      return true;
    },
    write: writeClipboard,
    clock,
    status: status.clipboard,
    notify: showNotice,
    onEvent: (event) => emit('tether-clipboard', event),
    onChange: (available) => {
      view.clipboardAvailable(available);
      // Told view-only here: no Send file either.
      files.changed();
    },
  });
  if (clipboard) clipboard.close();
  clipboard = sync;
  channel.onopen = () => sync.opened();
  channel.onclose = () => sync.close();
  channel.onmessage = (e) => sync.onMessage(e.data);
  if (channel.readyState === 'open') sync.opened();
}

/** Whether this session was told that the browser has no clipboard for the page. */
let toldMissing = false;

/** A paste key on the picture: the clipboard goes across first (null: no clipboard here). */
function beforePaste(owner) {
  if (!clipboard || owner !== session || !clipboard.available) return null;
  const missing = clipboardMissing();
  if (missing) {
    // Nothing to wait for, ever: said once, and the keys go at once.
    if (!toldMissing) showNotice({ text: missing });
    toldMissing = true;
    return null;
  }
  return clipboard.paste(readClipboard);
}

ui.typeClipboard.addEventListener('click', () => {
  const owner = session;
  if (!owner || !clipboard || !clipboard.available) return;
  typeClipboard(readClipboard, (msg) => owner === session && owner.sendInput(msg)).then((typed) => {
    if (typed.outcome === 'typed') {
      status.clipboard.typed += 1;
      status.clipboard.typedCharacters += typed.characters;
    }
    showNotice({ text: typed.notice });
    ui.video.focus();
  });
});

// ---- Files ----------------------------------------------------------------------------------

const files = new FileTransfers({
  list: status.files,
  state: status.fileSharing,
  now: () => performance.now(),
  makeUrl: (chunks) => URL.createObjectURL(new Blob(chunks, { type: 'application/octet-stream' })),
  revokeUrl: (url) => URL.revokeObjectURL(url),
  // The clipboard learns it first, from the agent's `off{view_only}` as its channel opens.
  viewOnly: () => status.clipboard.viewOnly,
  onChange: (t, progress) => filesView.changed(t, progress),
  onEvent: (t) => emit('tether-file', t),
  onAvailable: (available) => filesView.available(available),
});
const filesView = new FilesView(document, files, {
  notify: (text) => showNotice({ text }),
  video: ui.video,
});

function sendFile(file) {
  const t = files.sendFile(file);
  const answer = { ok: t.state !== 'failed', id: t.id, state: t.state };
  if (t.reason) answer.reason = t.reason;
  return answer;
}

/** The agent's `files` channel for `owner`: control messages both ways while it is open. */
function wireFiles(owner, channel) {
  const send = (frame) => {
    if (owner.ended || channel.readyState !== 'open') return false;
    channel.send(frame);
    return true;
  };
  // The sender opens each transfer's channel (ordered and reliable, as every data channel is
  // by default).
  const openChannel = (label) => {
    if (owner.ended || owner !== session || !owner.pc) return null;
    try {
      return owner.pc.createDataChannel(label, { ordered: true });
    } catch (_) {
      return null;
    }
  };
  const opened = () => {
    if (owner === session) files.attach(send, openChannel);
  };
  channel.onopen = opened;
  channel.onclose = () => {
    if (files.sendFrame === send) files.detach();
  };
  channel.onmessage = (e) => {
    if (owner === session && files.sendFrame === send) files.onMessage(e.data);
  };
  if (channel.readyState === 'open') opened();
}

/** A new session: its own chat log, clipboard exchange and file transfers. */
function resetSessionTools() {
  if (clipboard) clipboard.close();
  clipboard = null;
  chat.detach();
  chatLog.clear();
  chatView.clear();
  status.clipboard = newClipboardStatus();
  toldMissing = false;
  files.reset();
  filesView.clear();
}

function onChannel(channel, owner) {
  if (channel.label === CLIPBOARD_CHANNEL) wireClipboard(owner, channel);
  else if (channel.label === CHAT_CHANNEL) wireChat(owner, channel);
  else if (channel.label === FILES_CHANNEL) wireFiles(owner, channel);
  else if (transferIdOf(channel.label) !== null) {
    if (owner === session) files.onTransferChannel(channel);
    else channel.close();
  }
}

ui.form.addEventListener('submit', (e) => {
  e.preventDefault();
  const code = normaliseCode(ui.code.value);
  if (!code) {
    view.message('A session code has nine digits, like 482 913 075.');
    return;
  }
  if (session) return;
  view.joining();
  resetSessionTools();
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
    onChannel,
    onEnd: (ended) => {
      if (session !== ended) return;
      session = null;
      if (clipboard) clipboard.close();
      clipboard = null;
      chat.detach();
      files.detach();
    },
  });
  session = started.ended ? null : started;
});

ui.hangup.addEventListener('click', () => session && session.hangUp());
view.bindToolbar(() => status.stats);
attachInput(ui.video, () => session, window, { onPaste: beforePaste });
window.addEventListener('pagehide', () => session && session.hangUp());

const fromLink = new URLSearchParams(location.search).get('code');
if (fromLink) ui.code.value = fromLink;
ui.code.focus();
