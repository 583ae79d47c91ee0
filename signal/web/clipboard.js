// Clipboard text both ways on the agent's `clipboard` data channel (docs/protocol.md): the wire
// messages, checked as proto/src/clipboard.rs checks them, and `ClipboardSync`, one session's
// side of the exchange; plus the `input` text messages that "Type clipboard" sends. No DOM: the
// browser's clipboard, the channel, the clock and the notices are passed in.

import { hasControl, jsonCharBytes, utf8Length, wellFormed } from './text.js';

export const CLIPBOARD_CHANNEL = 'clipboard';
/** Longest clipboard text, in bytes of UTF-8 (proto's MAX_CLIPBOARD_TEXT_BYTES). */
export const MAX_CLIPBOARD_TEXT_BYTES = 30 * 1024;
/** Largest clipboard message, in bytes (proto's MAX_CLIPBOARD_MESSAGE_BYTES). */
export const MAX_CLIPBOARD_MESSAGE_BYTES = 64 * 1024;
/** How long a paste waits for the agent's `applied` or `refused` before its keys go. */
export const ANSWER_TIMEOUT_MS = 500;
/** How long a paste waits for the browser's clipboard (a permission prompt, say). */
export const READ_TIMEOUT_MS = 1000;
/** Largest `input` message (proto's MAX_INPUT_BYTES): typed text goes in pieces of this. */
export const MAX_INPUT_BYTES = 4096;
/** Most text "Type clipboard" types: the clipboard's limit (typing is slow). */
export const MAX_TYPED_BYTES = MAX_CLIPBOARD_TEXT_BYTES;
/** Timed-out texts whose late answers are still awaited. */
const MAX_PENDING = 16;
/** Answers kept in the status (window.tether.clipboard.answers). */
const MAX_ANSWERS = 50;

export const REFUSALS = ['view_only', 'off', 'too_large', 'failed'];

/** Why the agent did not take the text, for people. */
export const REFUSAL_TEXT = {
  view_only: 'the clipboard is off in a view-only session',
  off: 'the person turned the clipboard off',
  too_large: 'clipboard text over 30 KiB is not shared',
  failed: 'the computer could not reach its clipboard',
};

/** What the page shows. */
export const NOTICE = {
  readRefused: 'The browser refused to read the clipboard: allow clipboard access for this page',
  insecure: 'The browser gives pages without https no clipboard: open the viewer at an https:// address (or on localhost) to paste',
  tooLarge: 'Clipboard text over 30 KiB is not shared.',
  control: 'Clipboard text with control characters (other than tabs and line breaks) is not shared.',
  noAnswer: 'The computer did not confirm the clipboard in time: the paste may use its old clipboard.',
  refused: (reason) => `The clipboard was not shared: ${REFUSAL_TEXT[reason] || reason}.`,
  copied: (n) => `Copied from the computer (${n} characters)`,
  copyNeeded: 'The computer\'s clipboard changed:',
  receivedTooLarge: 'The computer\'s clipboard holds over 30 KiB of text: not shared.',
  typeEmpty: 'The clipboard holds no text to type.',
  typeTooLarge: 'Clipboard text over 30 KiB is not typed.',
  typed: (n) => `Typed ${n} characters on the computer.`,
  typeFailed: 'The clipboard could not be typed: the computer is not connected.',
};

/** Characters as people count them (code points, not UTF-16 units). */
export const characters = (text) => [...text].length;

// ---- The wire -------------------------------------------------------------------------------

/** Why `text` may not travel as clipboard text (`too_large`, `control`), or null. */
export function clipboardTextProblem(text) {
  if (utf8Length(text) > MAX_CLIPBOARD_TEXT_BYTES) return 'too_large';
  if (hasControl(text, '\t\n\r')) return 'control';
  return null;
}

/** A `text` message as its frame, or null when the text may not travel. */
export function encodeText(seq, text) {
  const clean = wellFormed(text);
  if (clipboardTextProblem(clean)) return null;
  return JSON.stringify({ type: 'text', seq, text: clean });
}

export const encodeApplied = (seq) => JSON.stringify({ type: 'applied', seq });
export const encodeRefused = (seq, reason) => JSON.stringify({ type: 'refused', seq, reason });

const FIELDS = {
  text: ['seq', 'text'], applied: ['seq'], refused: ['seq', 'reason'], off: ['reason'],
};

const isSeq = (v) => Number.isSafeInteger(v) && v >= 0;

/**
 * A frame from the agent as `{ msg }`, or `{ error }`: `message_too_large`, `malformed` (not
 * JSON, not an object, an unknown type or field, a wrong field type), `too_large` (text over
 * the limit; `seq` says which, to refuse) or `control` (control characters). Only `too_large`
 * is answered; the others are dropped, as the agent drops them.
 */
export function decodeClipboard(data) {
  if (typeof data !== 'string') return { error: 'malformed' };
  if (data.length > MAX_CLIPBOARD_MESSAGE_BYTES
    || (data.length * 3 > MAX_CLIPBOARD_MESSAGE_BYTES && utf8Length(data) > MAX_CLIPBOARD_MESSAGE_BYTES)) {
    return { error: 'message_too_large' };
  }
  let msg;
  try {
    msg = JSON.parse(data);
  } catch (_) {
    return { error: 'malformed' };
  }
  if (!msg || typeof msg !== 'object' || Array.isArray(msg) || typeof msg.type !== 'string'
    || !Object.hasOwn(FIELDS, msg.type)) {
    return { error: 'malformed' };
  }
  const fields = FIELDS[msg.type];
  const keys = Object.keys(msg);
  if (keys.length !== fields.length + 1 || !fields.every((f) => Object.hasOwn(msg, f))
    || (fields.includes('seq') && !isSeq(msg.seq))) {
    return { error: 'malformed' };
  }
  const { type, seq } = msg;
  if (type === 'off') {
    // The agent shares no clipboard in this session (view-only, or turned off there).
    if (msg.reason !== 'view_only' && msg.reason !== 'off') return { error: 'malformed' };
    return { msg: { type, reason: msg.reason } };
  }
  if (type === 'text') {
    const { text } = msg;
    // serde_json refuses lone surrogates (`"\ud800"`), which JSON.parse lets through.
    if (typeof text !== 'string' || wellFormed(text) !== text) return { error: 'malformed' };
    const problem = clipboardTextProblem(text);
    if (problem === 'too_large') return { error: 'too_large', seq };
    if (problem) return { error: problem };
    return { msg: { type, seq, text } };
  }
  if (type === 'refused') {
    if (!REFUSALS.includes(msg.reason)) return { error: 'malformed' };
    return { msg: { type, seq, reason: msg.reason } };
  }
  return { msg: { type, seq } };
}

// ---- One session's clipboard ----------------------------------------------------------------

/** A fresh `window.tether.clipboard`. */
export function newClipboardStatus() {
  return {
    // The channel is open and the session is not known to be view-only.
    available: false,
    viewOnly: false,
    // The agent said `off` (its reason): no clipboard either way in this session.
    off: null,
    // `text` messages sent, and the last one's text.
    sent: 0,
    lastSent: null,
    // The last text the agent sent, how many it sent, and the last one put on the browser's
    // clipboard (null: none yet).
    received: null,
    receivedCount: 0,
    written: null,
    writeFailed: 0,
    // Answers to our texts: counts, the last refusal's reason, and the answers themselves.
    applied: 0,
    refused: 0,
    lastRefusal: null,
    timeouts: 0,
    answers: [],
    // Frames from the agent that were dropped (malformed, control characters).
    dropped: 0,
    // Texts typed with "Type clipboard" and their characters.
    typed: 0,
    typedCharacters: 0,
    // The last notice shown: { text, copy? }.
    lastNotice: null,
  };
}

/**
 * One session's side of the clipboard exchange.
 *
 *   send(frame)   -> sends a text frame on the channel; false when it is not open
 *   write(text)   -> a promise: puts text on the browser's clipboard (rejects when it cannot)
 *   clock         -> { setTimeout, clearTimeout }
 *   notify(n)     -> shows a notice { text, copy? } (copy: text for a Copy button)
 *   onEvent(e)    -> for tests: { kind: 'answer', seq, type, reason? },
 *                    { kind: 'received', seq, text, written }
 *   onChange()    -> `available` changed
 *
 * The text last sent to or received from the agent (`agentHas`) is what its clipboard holds;
 * that text is not sent again, so nothing goes back and forth.
 */
export class ClipboardSync {
  constructor({ send, write, clock, notify = () => {}, onEvent = () => {}, onChange = () => {},
    status = newClipboardStatus(), answerTimeoutMs = ANSWER_TIMEOUT_MS,
    readTimeoutMs = READ_TIMEOUT_MS }) {
    Object.assign(this, { sendFrame: send, write, clock, notifyFn: notify, onEvent, onChange,
      status, answerTimeoutMs, readTimeoutMs });
    this.seq = 0;
    /** What the agent's clipboard is known to hold (null: not known). */
    this.agentHas = null;
    /** seq -> { text, promise, resolve, timer, settled } */
    this.pending = new Map();
    this.open = false;
    this.closed = false;
    // Texts from the agent are written one after the other: the last one stays.
    this.writes = Promise.resolve();
  }

  /** Whether texts may be sent: the channel is open and the session is not view-only. */
  get available() {
    return this.open && !this.closed && !this.status.viewOnly && !this.status.off;
  }

  notify(text, copy) {
    const notice = copy === undefined ? { text } : { text, copy };
    this.status.lastNotice = notice;
    this.notifyFn(notice);
  }

  changed() {
    const available = this.available;
    if (available !== this.status.available) {
      this.status.available = available;
      this.onChange(available);
    }
  }

  /** The channel opened. */
  opened() {
    this.open = true;
    this.changed();
  }

  /** The channel or the session ended: every wait ends too. */
  close() {
    this.closed = true;
    for (const entry of this.pending.values()) this.settle(entry, { outcome: 'unavailable' });
    this.pending.clear();
    this.changed();
  }

  send(frame) {
    return !this.closed && this.sendFrame(frame) !== false;
  }

  /**
   * Offers `text` (the browser's clipboard) to the agent. A promise of
   * `{ outcome, seq?, reason? }`: `applied`, `refused` (with `reason`), `timeout` (no answer in
   * time; a late one still counts), `same` (the agent holds it already), `empty`, `too_large`,
   * `control` (not sent, said so) or `unavailable`.
   */
  offer(text) {
    if (!this.available) return Promise.resolve({ outcome: 'unavailable' });
    const clean = wellFormed(String(text));
    if (clean === '') return Promise.resolve({ outcome: 'empty' });
    if (clean === this.agentHas) return Promise.resolve({ outcome: 'same' });
    const problem = clipboardTextProblem(clean);
    if (problem) {
      this.notify(problem === 'too_large' ? NOTICE.tooLarge : NOTICE.control);
      return Promise.resolve({ outcome: problem });
    }
    for (const entry of this.pending.values()) {
      if (!entry.settled && entry.text === clean) return entry.promise;
    }
    const seq = this.seq + 1;
    if (!this.send(encodeText(seq, clean))) return Promise.resolve({ outcome: 'unavailable' });
    this.seq = seq;
    this.status.sent += 1;
    this.status.lastSent = clean;
    const entry = { seq, text: clean, settled: false };
    entry.promise = new Promise((resolve) => { entry.resolve = resolve; });
    entry.timer = this.clock.setTimeout(() => this.onTimeout(entry), this.answerTimeoutMs);
    this.pending.set(seq, entry);
    return entry.promise;
  }

  settle(entry, result) {
    if (entry.settled) return;
    entry.settled = true;
    this.clock.clearTimeout(entry.timer);
    entry.resolve(result);
  }

  onTimeout(entry) {
    if (entry.settled) return;
    this.status.timeouts += 1;
    this.settle(entry, { outcome: 'timeout', seq: entry.seq });
    this.notify(NOTICE.noAnswer);
    // Late answers are still awaited, for a few texts.
    while (this.pending.size > MAX_PENDING) this.pending.delete(this.pending.keys().next().value);
  }

  /**
   * The paste path: reads the browser's clipboard with `read()` (a promise of its text) and
   * offers it. Resolves when the agent answered, or at the latest after the read's and the
   * answer's time limits, with the offer's result (`read_refused`: the browser said no).
   */
  paste(read) {
    if (!this.available) return Promise.resolve({ outcome: 'unavailable' });
    const work = Promise.resolve()
      .then(() => read())
      .then((text) => this.offer(typeof text === 'string' ? text : ''), (err) => {
        // A reason of the caller's own (no clipboard at all, say), or the browser's refusal.
        if (!this.closed) this.notify((err && err.notice) || NOTICE.readRefused);
        return { outcome: 'read_refused' };
      });
    return new Promise((resolve) => {
      const timer = this.clock.setTimeout(() => resolve({ outcome: 'timeout' }),
        this.readTimeoutMs + this.answerTimeoutMs);
      work.then((result) => {
        this.clock.clearTimeout(timer);
        resolve(result);
      });
    });
  }

  /** A frame from the agent (a promise for a text: settled once it is written and answered). */
  onMessage(data) {
    const { msg, error, seq } = decodeClipboard(data);
    if (error === 'too_large') {
      if (this.status.viewOnly) return undefined;
      this.send(encodeRefused(seq, 'too_large'));
      this.notify(NOTICE.receivedTooLarge);
      return undefined;
    }
    if (error) {
      this.status.dropped += 1;
      return undefined;
    }
    if (msg.type === 'text') return this.receive(msg.seq, msg.text);
    if (msg.type === 'off') {
      this.status.off = msg.reason;
      if (msg.reason === 'view_only') this.status.viewOnly = true;
      this.changed();
      return undefined;
    }
    this.answered(msg);
    return undefined;
  }

  answered({ type, seq, reason }) {
    const entry = this.pending.get(seq);
    if (!entry) {
      this.status.dropped += 1;
      return;
    }
    this.pending.delete(seq);
    const { status } = this;
    const answer = reason === undefined ? { seq, type } : { seq, type, reason };
    status.answers.push(answer);
    if (status.answers.length > MAX_ANSWERS) status.answers.shift();
    this.onEvent({ kind: 'answer', ...answer });
    if (type === 'applied') {
      status.applied += 1;
      this.agentHas = entry.text;
      this.settle(entry, { outcome: 'applied', seq });
      return;
    }
    status.refused += 1;
    status.lastRefusal = reason;
    if (reason === 'view_only') {
      // The page learns it here: nothing more is sent, and the clipboard's buttons go.
      status.viewOnly = true;
      this.changed();
    }
    this.notify(NOTICE.refused(reason));
    this.settle(entry, { outcome: 'refused', seq, reason });
  }

  /** The agent's clipboard changed: put it on the browser's and answer. */
  receive(seq, text) {
    const { status } = this;
    // The agent sends none in view-only sessions; the page sends nothing then either.
    if (status.viewOnly) return Promise.resolve();
    status.received = text;
    status.receivedCount += 1;
    this.agentHas = text;
    this.writes = this.writes.then(() => this.write(text)).then(() => {
      status.written = text;
      this.send(encodeApplied(seq));
      this.notify(NOTICE.copied(characters(text)));
      this.onEvent({ kind: 'received', seq, text, written: true });
    }, () => {
      // No focus, or no permission: a click on Copy (a user gesture) can still write it.
      status.writeFailed += 1;
      this.send(encodeRefused(seq, 'failed'));
      if (status.received === text) this.notify(NOTICE.copyNeeded, text);
      this.onEvent({ kind: 'received', seq, text, written: false });
    });
    return this.writes;
  }

  /** The Copy button of a notice: writes `text` on a click (with `write`, if given). */
  copy(text, write = this.write) {
    return Promise.resolve()
      .then(() => write(text))
      .then(() => {
        this.status.written = text;
        this.notify(NOTICE.copied(characters(text)));
        return true;
      }, () => {
        this.notify(NOTICE.copyNeeded, text);
        return false;
      });
  }
}

// ---- Type clipboard -------------------------------------------------------------------------

/**
 * Text as the `input` channel types it: line breaks as `\n` (from `\r\n` and `\r`), no other
 * control characters but tabs (the channel refuses them), no lone surrogates.
 */
export function typeableText(text) {
  return wellFormed(String(text))
    .replace(/\r\n?/g, '\n')
    .replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, '');
}

const TEXT_ENVELOPE_BYTES = utf8Length(JSON.stringify({ type: 'text', text: '' }));

/**
 * `input` `text` messages that type `text` in order, each at most `limit` bytes as JSON (never
 * splitting a character). `text` should be typeableText's.
 */
export function textMessages(text, limit = MAX_INPUT_BYTES) {
  const messages = [];
  let piece = '';
  let size = TEXT_ENVELOPE_BYTES;
  for (const c of text) {
    const bytes = jsonCharBytes(c);
    if (piece && size + bytes > limit) {
      messages.push({ type: 'text', text: piece });
      piece = '';
      size = TEXT_ENVELOPE_BYTES;
    }
    piece += c;
    size += bytes;
  }
  if (piece) messages.push({ type: 'text', text: piece });
  return messages;
}

/**
 * "Type clipboard": reads the browser's clipboard with `read()` and types it with
 * `sendInput(msg)` (false when the input channel is not open). A promise of
 * `{ outcome, notice }`: `typed` (with `characters`), `read_refused`, `empty`, `too_large`,
 * `failed`.
 */
export async function typeClipboard(read, sendInput) {
  let text;
  try {
    text = await read();
  } catch (err) {
    return { outcome: 'read_refused', notice: (err && err.notice) || NOTICE.readRefused };
  }
  const typeable = typeableText(typeof text === 'string' ? text : '');
  if (!typeable) return { outcome: 'empty', notice: NOTICE.typeEmpty };
  if (utf8Length(typeable) > MAX_TYPED_BYTES) return { outcome: 'too_large', notice: NOTICE.typeTooLarge };
  for (const msg of textMessages(typeable)) {
    if (sendInput(msg) === false) return { outcome: 'failed', notice: NOTICE.typeFailed };
  }
  const n = characters(typeable);
  return { outcome: 'typed', characters: n, notice: NOTICE.typed(n) };
}
