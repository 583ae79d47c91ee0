// Chat on the agent's `chat` data channel (docs/protocol.md), in every session, view-only too:
// the wire messages, checked as proto/src/chat.rs checks them, the session's log (bounded) and
// `Chat`, which sends and receives through an injected channel. No DOM.

import { hasControl, trimWhiteSpace, utf8Length, wellFormed } from './text.js';

export const CHAT_CHANNEL = 'chat';
/** Longest chat text, in bytes of UTF-8 (proto's MAX_CHAT_TEXT_BYTES). */
export const MAX_CHAT_TEXT_BYTES = 2000;
/** Largest chat message on the wire (proto's MAX_CHAT_MESSAGE_BYTES). */
export const MAX_CHAT_MESSAGE_BYTES = 8 * 1024;
/** Entries the log keeps; older ones are forgotten. */
export const MAX_LOG_ENTRIES = 500;

/** Who said it, as the log shows it. */
export const WHO = { you: 'You', computer: 'Computer' };

/** Why a message was not sent, for people. */
export const CHAT_PROBLEM_TEXT = {
  empty: 'Type a message first.',
  too_large: 'A chat message is at most 2,000 bytes (about 2,000 letters, fewer in other scripts).',
  control: 'The message has control characters.',
  closed: 'The chat is not connected.',
};

// ---- The wire -------------------------------------------------------------------------------

/** Why chat text (already trimmed) may not travel (`too_large`, `empty`, `control`), or null. */
export function chatTextProblem(text) {
  if (utf8Length(text) > MAX_CHAT_TEXT_BYTES) return 'too_large';
  if (trimWhiteSpace(text) === '') return 'empty';
  if (hasControl(text, '\n')) return 'control';
  return null;
}

/**
 * What a person typed as the text to send: line breaks as `\n`, tabs as spaces, trimmed (no
 * lone surrogates). chatTextProblem judges the result.
 */
export function chatText(typed) {
  return trimWhiteSpace(wellFormed(String(typed)).replace(/\r\n?/g, '\n').replace(/\t/g, ' '));
}

/** `{ frame, text }` for a `message` with `typed` (see chatText), or `{ error }`. */
export function encodeChat(typed) {
  const text = chatText(typed);
  const error = chatTextProblem(text);
  if (error) return { error };
  return { frame: JSON.stringify({ type: 'message', text }), text };
}

/**
 * A frame from the agent as `{ msg }` (`{ type: 'message', text }`) or `{ error }`:
 * `too_large`, `malformed`, `empty`, `control`. Bad frames are dropped, as the agent drops them.
 */
export function decodeChat(data) {
  if (typeof data !== 'string') return { error: 'malformed' };
  if (data.length > MAX_CHAT_MESSAGE_BYTES
    || (data.length * 3 > MAX_CHAT_MESSAGE_BYTES && utf8Length(data) > MAX_CHAT_MESSAGE_BYTES)) {
    return { error: 'too_large' };
  }
  let msg;
  try {
    msg = JSON.parse(data);
  } catch (_) {
    return { error: 'malformed' };
  }
  if (!msg || typeof msg !== 'object' || Array.isArray(msg) || msg.type !== 'message'
    || Object.keys(msg).length !== 2 || typeof msg.text !== 'string'
    || wellFormed(msg.text) !== msg.text) {
    return { error: 'malformed' };
  }
  const error = chatTextProblem(msg.text);
  return error ? { error } : { msg: { type: 'message', text: msg.text } };
}

// ---- The log --------------------------------------------------------------------------------

/**
 * The session's messages, oldest first, at most `limit`: entries `{ from: 'you' | 'computer',
 * text, time }` (time in ms since the epoch). `unread` counts the computer's messages while
 * the log is not shown.
 */
export class ChatLog {
  constructor(limit = MAX_LOG_ENTRIES) {
    this.limit = limit;
    // Cleared in place, never replaced: window.tether.chat is this array.
    this.entries = [];
    this.unread = 0;
    this.shown = false;
  }

  add(from, text, time) {
    const entry = { from, text, time };
    this.entries.push(entry);
    if (this.entries.length > this.limit) this.entries.splice(0, this.entries.length - this.limit);
    if (from === 'computer' && !this.shown) this.unread += 1;
    return entry;
  }

  /** The log is shown (everything read) or hidden. */
  show(shown) {
    this.shown = shown;
    if (shown) this.unread = 0;
  }

  clear() {
    this.entries.length = 0;
    this.unread = 0;
  }
}

// ---- One session's chat ---------------------------------------------------------------------

/**
 * Sends and receives chat messages for the log.
 *
 *   log            -> a ChatLog
 *   now()          -> ms since the epoch, for the entries' times
 *   onEntry(entry) -> a message was added (either side)
 *
 * `attach(send)` connects it to an open channel (`send(frame)`, false when it is closed);
 * `detach()` when it closes.
 */
export class Chat {
  constructor({ log, now = () => Date.now(), onEntry = () => {} }) {
    Object.assign(this, { log, now, onEntry });
    this.sendFrame = null;
    this.dropped = 0;
  }

  get connected() {
    return this.sendFrame !== null;
  }

  attach(send) {
    this.sendFrame = send;
  }

  detach() {
    this.sendFrame = null;
  }

  /** Sends what the person typed: `{ entry }`, or `{ error }` (see CHAT_PROBLEM_TEXT). */
  send(typed) {
    const encoded = encodeChat(typed);
    if (encoded.error) return { error: encoded.error };
    if (!this.sendFrame || this.sendFrame(encoded.frame) === false) return { error: 'closed' };
    const entry = this.log.add('you', encoded.text, this.now());
    this.onEntry(entry);
    return { entry };
  }

  /** A frame from the agent: the entry it added, or null (dropped). */
  onMessage(data) {
    const { msg } = decodeChat(data);
    if (!msg) {
      this.dropped += 1;
      return null;
    }
    const entry = this.log.add('computer', msg.text, this.now());
    this.onEntry(entry);
    return entry;
  }
}
