// File transfer both ways (docs/protocol.md, "File transfer"): control messages on the agent's
// `files` channel, checked as proto/src/files.rs checks them, and one ordered, reliable
// `file:<id>` channel per transfer, opened by the sender after `accept`. Pure helpers (the
// wire, names, sizes, back-pressure, the receiver's accounting) and `FileTransfers`, one page's
// transfers, with the channels, the clock and the download URLs passed in. No DOM.

import { Sha256, asBytes } from './sha256.js';
import { utf8Length, wellFormed } from './text.js';

export const FILES_CHANNEL = 'files';
/** A transfer's data channel is labelled `file:<id>`. */
export const TRANSFER_PREFIX = 'file:';
/** Largest binary message on a transfer channel (proto's MAX_CHUNK_BYTES). */
export const MAX_CHUNK_BYTES = 16 * 1024;
/** Largest control message, in bytes (proto's MAX_FILE_MESSAGE_BYTES). */
export const MAX_FILE_MESSAGE_BYTES = 4096;
/** Longest transfer id (proto's MAX_ID_BYTES). */
export const MAX_ID_BYTES = 32;
/** Longest name offered, in bytes of UTF-8 (proto's MAX_NAME_BYTES). */
export const MAX_NAME_BYTES = 1024;
/** Longest name the page offers or saves under, in bytes (what file systems take). */
export const MAX_PLAIN_NAME_BYTES = 255;
/** The most a sender leaves queued on a transfer channel. */
export const MAX_BUFFERED_BYTES = 1024 * 1024;
/** Where a waiting sender is woken again (`bufferedAmountLowThreshold`). */
export const LOW_WATER_BYTES = 512 * 1024;
/** What the page reads of a file at a time (then sent as chunks). */
export const READ_BLOCK_BYTES = 1024 * 1024;
/** Largest file the page takes from the computer (it is kept in memory). */
export const MAX_RECEIVE_BYTES = 1024 * 1024 * 1024;
/** Transfers each way at a time (the agent takes 4 from a viewer at once). */
export const MAX_ACTIVE = 4;
/** What a received file is called when its name has nothing left. */
export const FALLBACK_NAME = 'file';

/** Why a transfer was refused or failed, on the wire. */
export const REASONS = ['view_only', 'off', 'too_large', 'busy', 'declined', 'corrupt', 'failed', 'cancelled'];

/** Reasons in words: the wire's (proto's FileRefusal::explain) and the page's own. */
export const REASON_TEXT = {
  view_only: 'no file transfer in a view-only session',
  off: 'file transfer is turned off on the other side',
  too_large: 'the file is over the other side\'s size limit',
  busy: 'too many transfers at once',
  declined: 'the person said no',
  corrupt: 'the file arrived damaged and was deleted',
  failed: 'the other side could not save the file',
  cancelled: 'cancelled',
  // The page's own.
  unavailable: 'the computer offers no file transfer',
  disconnected: 'the session ended',
  read_failed: 'the browser could not read the file',
  channel: 'the transfer channel could not be opened',
};

/** What the browser says when it refuses a file from the computer. */
export const RECEIVE_REASON_TEXT = {
  too_large: 'over the browser\'s limit of 1 GiB',
  busy: 'too many files at once',
  corrupt: 'the file arrived damaged and was dropped',
};

// ---- The wire -------------------------------------------------------------------------------

const FIELDS = {
  offer: ['id', 'name', 'size'],
  accept: ['id'],
  reject: ['id', 'reason'],
  saved: ['id', 'name'],
  failed: ['id', 'reason'],
  cancel: ['id'],
};

/** Whether `id` may name a transfer: 1 to 32 of a-z, 0-9 and -. */
export const isTransferId = (id) => typeof id === 'string' && /^[a-z0-9-]{1,32}$/.test(id);

export const transferLabel = (id) => `${TRANSFER_PREFIX}${id}`;

/** The transfer id in a data channel label, or null when it is no transfer's. */
export function transferIdOf(label) {
  if (typeof label !== 'string' || !label.startsWith(TRANSFER_PREFIX)) return null;
  const id = label.slice(TRANSFER_PREFIX.length);
  return isTransferId(id) ? id : null;
}

const isSize = (v) => Number.isSafeInteger(v) && v >= 0;
const isName = (v) => typeof v === 'string' && v !== '' && wellFormed(v) === v
  && utf8Length(v) <= MAX_NAME_BYTES;

/** A control message `{ type, ...fields }` as its frame, fields in the documented order. */
export function encodeFileMsg(msg) {
  const out = { type: msg.type };
  for (const field of FIELDS[msg.type]) out[field] = msg[field];
  return JSON.stringify(out);
}

export const offerMsg = (id, name, size) => ({ type: 'offer', id, name, size });
export const acceptMsg = (id) => ({ type: 'accept', id });
export const rejectMsg = (id, reason) => ({ type: 'reject', id, reason });
export const savedMsg = (id, name) => ({ type: 'saved', id, name });
export const failedMsg = (id, reason) => ({ type: 'failed', id, reason });
export const cancelMsg = (id) => ({ type: 'cancel', id });

/**
 * A control frame as `{ msg }` or `{ error }`: `too_large` (over 4,096 bytes), `malformed`
 * (not JSON, not an object, an unknown type or field, a missing field, a field of the wrong
 * type, an unknown reason, a size that is no non-negative safe integer), `bad_id` or
 * `bad_field` (an empty name or one over 1,024 bytes): FileMsg::decode's errors, in its order.
 */
export function decodeFileMsg(data) {
  if (typeof data !== 'string') return { error: 'malformed' };
  if (data.length > MAX_FILE_MESSAGE_BYTES
    || (data.length * 3 > MAX_FILE_MESSAGE_BYTES && utf8Length(data) > MAX_FILE_MESSAGE_BYTES)) {
    return { error: 'too_large' };
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
  if (Object.keys(msg).length !== fields.length + 1 || !fields.every((f) => Object.hasOwn(msg, f))) {
    return { error: 'malformed' };
  }
  if (typeof msg.id !== 'string' || ('name' in msg && typeof msg.name !== 'string')
    || ('size' in msg && !isSize(msg.size))
    || ('reason' in msg && !REASONS.includes(msg.reason))) {
    return { error: 'malformed' };
  }
  // serde_json refuses lone surrogates (`"\ud800"`), which JSON.parse lets through.
  if ('name' in msg && wellFormed(msg.name) !== msg.name) return { error: 'malformed' };
  if (!isTransferId(msg.id)) return { error: 'bad_id' };
  if ('name' in msg && !isName(msg.name)) return { error: 'bad_field' };
  const out = { type: msg.type };
  for (const field of fields) out[field] = msg[field];
  return { msg: out };
}

/** The end message after a file's bytes. */
export const encodeEnd = (sha256) => JSON.stringify({ type: 'end', sha256 });

/** The hash an end message carries (64 lower-case hex digits), or null for anything else. */
export function decodeEnd(data) {
  if (typeof data !== 'string' || data.length > MAX_FILE_MESSAGE_BYTES) return null;
  let msg;
  try {
    msg = JSON.parse(data);
  } catch (_) {
    return null;
  }
  if (!msg || typeof msg !== 'object' || Array.isArray(msg) || msg.type !== 'end'
    || Object.keys(msg).length !== 2 || typeof msg.sha256 !== 'string'
    || !/^[0-9a-f]{64}$/.test(msg.sha256)) {
    return null;
  }
  return msg.sha256;
}

/** The page's transfer ids: v1, v2, ... (the agent's start with `a`). */
export class TransferIds {
  constructor(prefix = 'v') {
    this.prefix = prefix;
    this.n = 0;
  }

  next() {
    this.n += 1;
    return `${this.prefix}${this.n}`;
  }
}

// ---- Names and sizes ------------------------------------------------------------------------

// Characters that reorder or hide text around them (bidi embeddings, overrides and isolates,
// line and paragraph separators): a name with them can pass for another ("txt.exe").
const INVISIBLE = /[\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/g;
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;

/** `text` cut to at most `limit` bytes of UTF-8, never inside a character. */
function cutBytes(text, limit) {
  let out = '';
  let bytes = 0;
  for (const c of text) {
    const n = utf8Length(c);
    if (bytes + n > limit) break;
    out += c;
    bytes += n;
  }
  return out;
}

/**
 * A plain file name of `name`, safe to show and to save under: only its last path component
 * (on `/` and `\`), no control or bidi characters, no white space around it and no leading
 * dots (no hidden files, no `..`), at most 255 bytes (the extension kept); never empty.
 * `../../.bashrc` is `bashrc`.
 */
export function plainName(name) {
  const parts = wellFormed(String(name ?? '')).split(/[/\\]/).filter((p) => p !== '');
  let plain = (parts.length ? parts[parts.length - 1] : '')
    .replace(CONTROL, '')
    .replace(INVISIBLE, '')
    .trim()
    .replace(/^[.\s]+/, '');
  if (utf8Length(plain) > MAX_PLAIN_NAME_BYTES) {
    const dot = plain.lastIndexOf('.');
    const ext = dot > 0 && plain.length - dot <= 16 ? plain.slice(dot) : '';
    plain = cutBytes(plain.slice(0, plain.length - ext.length), MAX_PLAIN_NAME_BYTES - utf8Length(ext)).trimEnd() + ext;
  }
  return plain || FALLBACK_NAME;
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/** `20.0 MiB`, `512 B`: binary units, one decimal above bytes. */
export function formatBytes(n) {
  if (!Number.isFinite(n) || n < 0) return '?';
  if (n < 1024) return `${Math.round(n)} B`;
  let unit = 0;
  let value = n;
  // 1023.96 KiB shows as 1.0 MiB, not 1024.0 KiB.
  while (unit < UNITS.length - 1 && Number(value.toFixed(1)) >= 1024) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(1)} ${UNITS[unit]}`;
}

/** `8.1 MiB/s` for bytes per second. */
export const formatRate = (bytesPerSecond) => `${formatBytes(bytesPerSecond)}/s`;

/** Whole percent done (100 for an empty file). */
export function percent(bytes, size) {
  if (!(size > 0)) return 100;
  return Math.min(100, Math.floor((bytes / size) * 100));
}

// ---- Sending --------------------------------------------------------------------------------

/**
 * Whether a chunk of `length` bytes may go on a channel with `bufferedAmount` queued: while
 * the queue stays within `limit` (or is empty). Otherwise the sender waits for the channel's
 * `bufferedamountlow` (its threshold LOW_WATER_BYTES, below `limit - MAX_CHUNK_BYTES`, so the
 * event always comes).
 */
export function mayQueue(bufferedAmount, length, limit = MAX_BUFFERED_BYTES) {
  return bufferedAmount === 0 || bufferedAmount + length <= limit;
}

/** `bytes` (an ArrayBuffer or a view) as views of at most `max` bytes each, in order. */
export function chunkViews(bytes, max = MAX_CHUNK_BYTES) {
  const all = asBytes(bytes);
  const out = [];
  for (let at = 0; at < all.length; at += max) out.push(all.subarray(at, Math.min(all.length, at + max)));
  return out;
}

/** `[start, end)` ranges that read a file of `size` bytes in blocks of `block`. */
export function blockRanges(size, block = READ_BLOCK_BYTES) {
  const out = [];
  for (let at = 0; at < size; at += block) out.push([at, Math.min(size, at + block)]);
  return out;
}

// ---- Receiving ------------------------------------------------------------------------------

/**
 * The receiver's accounting for one file of `size` bytes: the chunks kept, their count and
 * hash. `chunk(data)` is false (and everything is dropped) once more came than offered;
 * `end(frame)` checks the end message, the length and the hash: `{ ok: true, sha256 }` or
 * `{ ok: false, why }` (`malformed`, `short`, `hash`), every failure a `corrupt` one.
 */
export class Receiver {
  constructor(size) {
    this.size = size;
    this.bytes = 0;
    this.chunks = [];
    this.hash = new Sha256();
    this.over = false;
  }

  chunk(data) {
    const bytes = asBytes(data);
    if (this.over || this.bytes + bytes.length > this.size) {
      this.over = true;
      this.drop();
      return false;
    }
    this.bytes += bytes.length;
    this.hash.update(bytes);
    this.chunks.push(data);
    return true;
  }

  end(frame) {
    const claimed = decodeEnd(frame);
    let result;
    if (claimed === null) result = { ok: false, why: 'malformed' };
    else if (this.over || this.bytes !== this.size) result = { ok: false, why: 'short' };
    else {
      const sha256 = this.hash.hex();
      result = sha256 === claimed ? { ok: true, sha256 } : { ok: false, why: 'hash', sha256 };
    }
    if (!result.ok) this.drop();
    return result;
  }

  drop() {
    this.chunks = [];
  }
}

// ---- Rates ----------------------------------------------------------------------------------

/** Bytes per second over the last `windowMs`, from (time, bytes so far) samples. */
export class Throughput {
  constructor(windowMs = 2000) {
    this.windowMs = windowMs;
    // One sample per 100 ms at most, and the latest one.
    this.samples = [];
    this.latest = null;
  }

  sample(now, bytes) {
    const { samples } = this;
    this.latest = [now, bytes];
    const last = samples[samples.length - 1];
    if (!last || now - last[0] >= 100) samples.push([now, bytes]);
    while (samples.length > 1 && now - samples[0][0] > this.windowMs) samples.shift();
  }

  /** Bytes per second, or 0 before there are two samples apart in time. */
  rate() {
    const { samples, latest } = this;
    if (!samples.length || !latest) return 0;
    const [t0, b0] = samples[0];
    const [t1, b1] = latest;
    return t1 > t0 ? ((b1 - b0) * 1000) / (t1 - t0) : 0;
  }
}

// ---- Transfers ------------------------------------------------------------------------------

/** States in which a transfer is still running. */
export const RUNNING = new Set(['queued', 'offered', 'sending', 'ending', 'receiving']);

/** Which state may follow which. */
const NEXT = {
  queued: ['offered', 'cancelled', 'failed'],
  offered: ['sending', 'receiving', 'rejected', 'cancelled', 'failed'],
  sending: ['ending', 'cancelled', 'failed'],
  ending: ['saved', 'cancelled', 'failed'],
  receiving: ['saved', 'cancelled', 'failed'],
};

/** Whether a transfer in state `from` may go to `to`. */
export const mayFollow = (from, to) => Boolean(NEXT[from] && NEXT[from].includes(to));

/** A sentence for a transfer's state, for its line in the list. */
export function stateText(t) {
  const toComputer = t.direction === 'send';
  const why = (reason) => (!toComputer && RECEIVE_REASON_TEXT[reason]) || REASON_TEXT[reason] || reason;
  switch (t.state) {
    case 'queued': return 'Waiting for the transfers before it';
    case 'offered': return toComputer ? 'Waiting for the computer to accept…' : 'Accepting…';
    case 'sending':
    case 'receiving': {
      const rate = t.rate > 0 ? ` · ${formatRate(t.rate)}` : '';
      return `${percent(t.bytes, t.size)} %${rate}`;
    }
    case 'ending': return 'Sent; the computer is checking it…';
    case 'saved': {
      const rate = t.rate > 0 ? ` (${formatRate(t.rate)})` : '';
      return toComputer ? `Saved on the computer as “${t.savedAs}”${rate}` : `Received${rate}`;
    }
    case 'rejected': return toComputer ? `Refused: ${why(t.reason)}` : `Not taken: ${why(t.reason)}`;
    case 'failed': return `Failed: ${why(t.reason)}`;
    case 'cancelled': return t.by === 'computer' ? 'Cancelled by the computer' : 'Cancelled';
    default: return t.state;
  }
}

/** A fresh `window.tether.fileSharing`. */
export function newFilesState() {
  return {
    // The `files` channel is open.
    open: false,
    // The agent said the session is view-only (reject{view_only}), or the clipboard did.
    viewOnly: false,
    // The agent refused a file with `off`: it takes none in this session.
    off: false,
    // Files may be sent: open, not view-only, not off.
    available: false,
    // Control frames from the agent that were dropped (malformed, unknown ids).
    dropped: 0,
  };
}

/**
 * One page's file transfers, both ways.
 *
 *   list             -> window.tether.files: one plain record per transfer, updated in place:
 *                       { id, direction: 'send' | 'receive', name, size, bytes, state, rate,
 *                         reason?, by?, savedAs?, sha256?, url?, ms? }
 *   state            -> window.tether.fileSharing (newFilesState)
 *   now()            -> milliseconds (performance.now)
 *   makeUrl(chunks, name) -> a download URL for a received file (URL.createObjectURL)
 *   revokeUrl(url)
 *   viewOnly()       -> whether the session is known to be view-only elsewhere (the clipboard)
 *   onChange(t, progress) -> a record changed (`progress`: only its bytes)
 *   onEvent(t)       -> a record's state changed (a copy of it)
 *   onAvailable(a)   -> `state.available` (or `state.open`) changed
 *
 * `attach(send, openChannel)` once the `files` channel is open (`send(frame)` false when it
 * is not; `openChannel(label)` a new ordered channel or null), `detach()` when it or the
 * session ends, `reset()` for a new session.
 */
export class FileTransfers {
  constructor({ list = [], state = newFilesState(), now = () => Date.now(),
    makeUrl = () => null, revokeUrl = () => {}, viewOnly = () => false,
    onChange = () => {}, onEvent = () => {}, onAvailable = () => {},
    maxReceiveBytes = MAX_RECEIVE_BYTES, blockBytes = READ_BLOCK_BYTES } = {}) {
    Object.assign(this, { list, state, now, makeUrl, revokeUrl, viewOnlyElsewhere: viewOnly,
      onChange, onEvent, onAvailable, maxReceiveBytes, blockBytes });
    this.ids = new TransferIds();
    this.sendFrame = null;
    this.openChannel = null;
    this.wasOpen = false;
    /** id -> { t, file?, channel?, receiver?, meter, wake?, started } */
    this.work = new Map();
  }

  get available() {
    const { state } = this;
    return state.open && !state.viewOnly && !state.off && !this.viewOnlyElsewhere();
  }

  /** Recomputes `state.available` (also when the clipboard learned the session is view-only). */
  changed() {
    if (this.viewOnlyElsewhere()) this.state.viewOnly = true;
    const available = this.available;
    if (available !== this.state.available || this.state.open !== this.wasOpen) {
      this.state.available = available;
      this.wasOpen = this.state.open;
      this.onAvailable(available);
    }
  }

  attach(send, openChannel) {
    this.sendFrame = send;
    this.openChannel = openChannel;
    this.state.open = true;
    this.changed();
    this.startQueued();
  }

  /** The channel or the session ended: whatever still runs fails. */
  detach() {
    this.sendFrame = null;
    this.openChannel = null;
    this.state.open = false;
    for (const { t } of [...this.work.values()]) {
      if (RUNNING.has(t.state)) this.finish(t, 'failed', { reason: 'disconnected' });
    }
    this.changed();
  }

  /** A new session: no transfers, no links (their URLs are given back). */
  reset() {
    this.detach();
    for (const t of this.list) if (t.url) this.revokeUrl(t.url);
    this.list.length = 0;
    this.work.clear();
    this.ids = new TransferIds();
    Object.assign(this.state, newFilesState());
  }

  send(msg) {
    return this.sendFrame !== null && this.sendFrame(encodeFileMsg(msg)) !== false;
  }

  find(id) {
    const w = this.work.get(id);
    return w ? w.t : null;
  }

  add(t) {
    const w = { t, meter: new Throughput(), started: this.now(), flowing: undefined };
    this.work.set(t.id, w);
    this.list.push(t);
    this.onEvent({ ...t });
    this.onChange(t, false);
    return w;
  }

  /** Moves `t` on to `to` (when that may follow), with `extra` fields; false when not. */
  move(t, to, extra = {}) {
    if (!mayFollow(t.state, to)) return false;
    Object.assign(t, extra, { state: to });
    const w = this.work.get(t.id);
    if (w && (to === 'sending' || to === 'receiving')) w.flowing = this.now();
    if (w && !RUNNING.has(to)) {
      const now = this.now();
      // From the offer (or the pick) to the answer; the rate over the bytes' own time.
      t.ms = Math.round(now - w.started);
      const flowed = w.flowing === undefined ? 0 : now - w.flowing;
      t.rate = to === 'saved' && flowed > 0 ? (t.size * 1000) / flowed : 0;
    }
    this.onEvent({ ...t });
    this.onChange(t, false);
    return true;
  }

  /** Ends `t` in `to` and lets go of its channel, file and chunks. */
  finish(t, to, extra) {
    if (!this.move(t, to, extra)) return false;
    const w = this.work.get(t.id);
    if (w) {
      const { channel } = w;
      w.channel = null;
      w.file = null;
      if (w.receiver) w.receiver.drop();
      w.receiver = null;
      if (w.wake) w.wake();
      // A receiver leaves a whole file's channel for its sender to close (after `saved`).
      if (channel && !(to === 'saved' && t.direction === 'receive')) closeQuietly(channel);
    }
    if (t.direction === 'send') this.startQueued();
    return true;
  }

  progress(w, bytes) {
    w.t.bytes = bytes;
    w.meter.sample(this.now(), bytes);
    w.t.rate = w.meter.rate();
    this.onChange(w.t, true);
  }

  // ---- Sending ------------------------------------------------------------------------------

  /**
   * Sends `file` (a File or Blob; its `name`, `size`, `slice`) to the computer. Returns the
   * new record: `queued` or `offered`, or at once `failed` (`unavailable`: no `files` channel).
   */
  sendFile(file) {
    const t = {
      id: this.ids.next(), direction: 'send', name: plainName(file && file.name),
      size: file && Number.isSafeInteger(file.size) ? file.size : 0, bytes: 0, state: 'queued',
      rate: 0,
    };
    const w = this.add(t);
    w.file = file;
    if (!this.sendFrame) this.finish(t, 'failed', { reason: 'unavailable' });
    else this.startQueued();
    return t;
  }

  activeSends() {
    let n = 0;
    for (const { t } of this.work.values()) {
      if (t.direction === 'send' && RUNNING.has(t.state) && t.state !== 'queued') n += 1;
    }
    return n;
  }

  /** Offers queued files while fewer than MAX_ACTIVE are under way. */
  startQueued() {
    if (!this.sendFrame) return;
    for (const w of this.work.values()) {
      if (this.activeSends() >= MAX_ACTIVE) return;
      const { t } = w;
      if (t.direction !== 'send' || t.state !== 'queued') continue;
      if (this.send(offerMsg(t.id, t.name, t.size))) this.move(t, 'offered');
      else this.finish(t, 'failed', { reason: 'unavailable' });
    }
  }

  onAccept(t) {
    const w = this.work.get(t.id);
    const channel = this.openChannel ? this.openChannel(transferLabel(t.id)) : null;
    if (!channel) {
      this.send(cancelMsg(t.id));
      this.finish(t, 'failed', { reason: 'channel' });
      return;
    }
    this.move(t, 'sending');
    w.channel = channel;
    w.meter.sample(this.now(), 0);
    channel.binaryType = 'arraybuffer';
    channel.bufferedAmountLowThreshold = LOW_WATER_BYTES;
    channel.onbufferedamountlow = () => {
      if (w.wake) w.wake();
    };
    channel.onclose = () => {
      // Closed before the end message went: the computer cancelled.
      if (t.state === 'sending') this.finish(t, 'cancelled', { by: 'computer' });
    };
    channel.onerror = () => {};
    const start = () => {
      this.pump(w, channel).catch(() => {
        if (t.state !== 'sending') return;
        this.send(cancelMsg(t.id));
        this.finish(t, 'failed', { reason: 'channel' });
      });
    };
    if (channel.readyState === 'open') start();
    else channel.onopen = start;
  }

  /** Waits for the channel's queue to go down (or for the transfer's end). */
  drained(w) {
    return new Promise((resolve) => {
      w.wake = () => {
        w.wake = null;
        resolve();
      };
    });
  }

  /** Reads, hashes and sends the file, keeping at most MAX_BUFFERED_BYTES queued. */
  async pump(w, channel) {
    const { t } = w;
    const hash = new Sha256();
    const going = () => t.state === 'sending' && w.channel === channel;
    let sent = 0;
    for (const [start, end] of blockRanges(t.size, this.blockBytes)) {
      let block;
      try {
        block = await w.file.slice(start, end).arrayBuffer();
      } catch (_) {
        block = null;
      }
      if (!going()) return;
      if (!block || block.byteLength !== end - start) {
        // Gone, unreadable or changed since it was picked.
        this.send(cancelMsg(t.id));
        this.finish(t, 'failed', { reason: 'read_failed' });
        return;
      }
      hash.update(block);
      for (const chunk of chunkViews(block)) {
        while (!mayQueue(channel.bufferedAmount, chunk.length)) {
          await this.drained(w);
          if (!going()) return;
        }
        channel.send(chunk);
        sent += chunk.length;
        this.progress(w, sent);
      }
    }
    if (!going()) return;
    channel.send(encodeEnd(hash.hex()));
    this.move(t, 'ending');
  }

  // ---- Receiving ----------------------------------------------------------------------------

  runningReceives() {
    let n = 0;
    let bytes = 0;
    for (const { t } of this.work.values()) {
      if (t.direction === 'receive' && RUNNING.has(t.state)) {
        n += 1;
        bytes += t.size;
      }
    }
    return { n, bytes };
  }

  /** The computer offers a file: taken at once (the person chose to send it) if it fits. */
  onOffer({ id, name, size }) {
    if (this.work.has(id)) {
      this.send(rejectMsg(id, 'busy'));
      return;
    }
    const t = { id, direction: 'receive', name, size, bytes: 0, state: 'offered', rate: 0,
      savedAs: plainName(name) };
    const w = this.add(t);
    const running = this.runningReceives();
    let refusal = null;
    if (size > this.maxReceiveBytes) refusal = 'too_large';
    else if (running.n > MAX_ACTIVE || running.bytes > this.maxReceiveBytes) refusal = 'busy';
    if (refusal) {
      this.send(rejectMsg(id, refusal));
      this.finish(t, 'rejected', { reason: refusal });
      return;
    }
    if (!this.send(acceptMsg(id))) {
      this.finish(t, 'failed', { reason: 'disconnected' });
      return;
    }
    w.receiver = new Receiver(size);
    w.meter.sample(this.now(), 0);
    this.move(t, 'receiving');
  }

  /** A `file:<id>` channel the computer opened (any other is closed). */
  onTransferChannel(channel) {
    const id = transferIdOf(channel.label);
    const w = id === null ? null : this.work.get(id);
    if (!w || w.t.direction !== 'receive' || w.t.state !== 'receiving' || w.channel) {
      closeQuietly(channel);
      return;
    }
    const { t } = w;
    w.channel = channel;
    channel.binaryType = 'arraybuffer';
    channel.onmessage = (e) => this.onTransferData(w, e.data);
    channel.onclose = () => {
      // Closed before the end message: the computer cancelled.
      if (t.state === 'receiving' && w.channel === channel) this.finish(t, 'cancelled', { by: 'computer' });
    };
    channel.onerror = () => {};
  }

  onTransferData(w, data) {
    const { t, receiver } = w;
    if (t.state !== 'receiving' || !receiver) return;
    if (typeof data === 'string') {
      const result = receiver.end(data);
      if (!result.ok) {
        this.send(failedMsg(t.id, 'corrupt'));
        this.finish(t, 'failed', { reason: 'corrupt' });
        return;
      }
      const url = this.makeUrl(receiver.chunks, t.savedAs);
      w.receiver = null;
      this.send(savedMsg(t.id, t.savedAs));
      const extra = { sha256: result.sha256, bytes: receiver.bytes };
      if (url) extra.url = url;
      // The sender closes the channel once it has the answer.
      this.finish(t, 'saved', extra);
      return;
    }
    if (!receiver.chunk(data)) {
      // More than offered: failed at once.
      this.send(failedMsg(t.id, 'corrupt'));
      this.finish(t, 'failed', { reason: 'corrupt' });
      return;
    }
    this.progress(w, receiver.bytes);
  }

  // ---- Control messages ---------------------------------------------------------------------

  /** A frame from the agent on `files`. */
  onMessage(data) {
    const { msg } = decodeFileMsg(data);
    if (!msg) {
      this.state.dropped += 1;
      return;
    }
    if (msg.type === 'offer') {
      this.onOffer(msg);
      return;
    }
    const t = this.find(msg.id);
    const ours = t && t.direction === 'send';
    if (!t || !RUNNING.has(t.state)) {
      this.state.dropped += 1;
      return;
    }
    if (msg.type === 'accept' && ours && t.state === 'offered') {
      this.onAccept(t);
    } else if (msg.type === 'reject' && ours && t.state === 'offered') {
      this.finish(t, 'rejected', { reason: msg.reason });
      if (msg.reason === 'view_only') this.state.viewOnly = true;
      if (msg.reason === 'off') this.state.off = true;
      this.changed();
    } else if (msg.type === 'saved' && ours && t.state === 'ending') {
      this.finish(t, 'saved', { savedAs: msg.name });
    } else if (msg.type === 'failed' && t.state !== 'queued' && t.state !== 'offered') {
      this.finish(t, 'failed', { reason: msg.reason });
    } else if (msg.type === 'cancel') {
      this.finish(t, 'cancelled', { by: 'computer' });
    } else {
      this.state.dropped += 1;
    }
  }

  /** The Cancel button: stops `id` (tells the computer unless it never heard of it). */
  cancel(id) {
    const t = this.find(id);
    if (!t || !RUNNING.has(t.state)) return false;
    if (t.state !== 'queued') this.send(cancelMsg(id));
    return this.finish(t, 'cancelled', { by: 'you' });
  }
}

function closeQuietly(channel) {
  try {
    channel.close();
  } catch (_) {
    // Already closed.
  }
}

