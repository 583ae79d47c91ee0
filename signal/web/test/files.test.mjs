// File transfer (files.js, sha256.js) against docs/protocol.md and proto/src/files.rs: the wire
// form and its limits, ids, names, sizes, chunking and back-pressure, the receiver's
// accounting, and FileTransfers both ways over fake channels (accept, reject, cancel, close
// before the end, the session ending).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import {
  FILES_CHANNEL, FileTransfers, LOW_WATER_BYTES, MAX_ACTIVE, MAX_BUFFERED_BYTES, MAX_CHUNK_BYTES,
  MAX_FILE_MESSAGE_BYTES, MAX_NAME_BYTES, MAX_RECEIVE_BYTES, REASONS, REASON_TEXT, Receiver,
  Throughput, TransferIds, blockRanges, chunkViews, decodeEnd, decodeFileMsg, encodeEnd,
  encodeFileMsg, formatBytes, formatRate, isTransferId, mayFollow, mayQueue, newFilesState,
  percent, plainName, stateText, transferIdOf, transferLabel,
} from '../files.js';
import { Sha256, sha256Hex } from '../sha256.js';

const here = dirname(fileURLToPath(import.meta.url));
const sha = (bytes) => createHash('sha256').update(bytes).digest('hex');
const settle = () => new Promise((resolve) => setImmediate(resolve));

/** Lets promises and setImmediate callbacks run until `cond()` holds (or fails the test). */
async function until(cond, what = 'the condition') {
  for (let i = 0; i < 10_000; i += 1) {
    if (cond()) return;
    await settle();
  }
  assert.fail(`never: ${what}`);
}

// ---- The wire -------------------------------------------------------------------------------

test('the wire form is the documented one', () => {
  assert.equal(FILES_CHANNEL, 'files');
  assert.equal(encodeFileMsg({ type: 'offer', id: 'v1', name: 'report.pdf', size: 1234 }),
    '{"type":"offer","id":"v1","name":"report.pdf","size":1234}');
  assert.equal(encodeFileMsg({ type: 'reject', reason: 'view_only', id: 'v1' }),
    '{"type":"reject","id":"v1","reason":"view_only"}', 'fields in the documented order');
  for (const msg of [
    { type: 'offer', id: 'v1', name: 'installer.deb', size: 20971520 },
    { type: 'accept', id: 'v1' },
    { type: 'reject', id: 'v2', reason: 'busy' },
    { type: 'saved', id: 'a-7', name: 'report (1).pdf' },
    { type: 'failed', id: 'v3', reason: 'corrupt' },
    { type: 'cancel', id: 'v4' },
  ]) {
    assert.deepEqual(decodeFileMsg(encodeFileMsg(msg)), { msg });
  }
  for (const reason of REASONS) {
    assert.deepEqual(decodeFileMsg(encodeFileMsg({ type: 'failed', id: 'a1', reason })).msg.reason, reason);
    assert.ok(REASON_TEXT[reason], `${reason} in words`);
  }
  assert.equal(transferLabel('v1'), 'file:v1');
  assert.equal(transferIdOf('file:v1'), 'v1');
  assert.equal(transferIdOf('files'), null);
  assert.equal(transferIdOf('file:'), null);
  assert.equal(transferIdOf('file:V1'), null);
});

test('every example in the protocol page\'s file transfer section decodes', () => {
  const doc = readFileSync(join(here, '../../../docs/protocol.md'), 'utf8');
  const start = doc.indexOf('## File transfer');
  assert.ok(start >= 0, 'the section is there');
  const section = doc.slice(start, doc.indexOf('\n## ', start + 1));
  const examples = [...section.matchAll(/```json\n([\s\S]*?)```/g)].map(([, json]) => json.trim());
  assert.ok(examples.length >= 6, `${examples.length} examples`);
  const types = new Set();
  for (const json of examples) {
    const { msg, error } = decodeFileMsg(json);
    assert.ok(msg, `${json}: ${error}`);
    assert.deepEqual(msg, JSON.parse(json));
    types.add(msg.type);
  }
  assert.deepEqual([...types].sort(), ['accept', 'cancel', 'failed', 'offer', 'reject', 'saved']);
});

test('hostile control messages are refused as the agent refuses them', () => {
  for (const id of ['', 'V1', '../x', 'a b', 'a'.repeat(33), 'é', 'v_1']) {
    assert.deepEqual(decodeFileMsg(JSON.stringify({ type: 'accept', id })), { error: 'bad_id' }, id);
    assert.equal(isTransferId(id), false);
  }
  assert.ok(isTransferId('a'.repeat(32)));
  assert.ok(isTransferId('a-0-z'));
  const offer = (name, size = 1) => JSON.stringify({ type: 'offer', id: 'a1', name, size });
  assert.deepEqual(decodeFileMsg(offer('')), { error: 'bad_field' });
  assert.ok(decodeFileMsg(offer('x'.repeat(MAX_NAME_BYTES))).msg);
  assert.deepEqual(decodeFileMsg(offer('x'.repeat(MAX_NAME_BYTES + 1))), { error: 'bad_field' });
  // In bytes: 'é' is 2.
  assert.ok(decodeFileMsg(offer('é'.repeat(512))).msg);
  assert.deepEqual(decodeFileMsg(offer('é'.repeat(513))), { error: 'bad_field' });
  assert.deepEqual(decodeFileMsg(JSON.stringify({ type: 'saved', id: 'v1', name: '' })), { error: 'bad_field' });
  for (const bad of [
    '', 'null', '[]', '{}', '"offer"', '{"type":1,"id":"v1"}',
    '{"type":"offer","id":"v1","name":"a","size":-1}',
    '{"type":"offer","id":"v1","name":"a","size":1.5}',
    '{"type":"offer","id":"v1","name":"a","size":"1"}',
    '{"type":"offer","id":"v1","name":"a","size":9007199254740993}',
    '{"type":"offer","id":"v1","name":"a"}',
    '{"type":"offer","id":"v1","name":7,"size":1}',
    '{"type":"offer","id":"v1","name":"\\ud800","size":1}',
    '{"type":"accept","id":"v1","extra":true}',
    '{"type":"accept","id":1}',
    '{"type":"accept"}',
    '{"type":"reject","id":"v1"}',
    '{"type":"reject","id":"v1","reason":"bored"}',
    '{"type":"failed","id":"v1","reason":"ViewOnly"}',
    '{"type":"end","sha256":"00"}',
    '{"type":"__proto__","id":"v1"}',
    '{"type":"toString","id":"v1"}',
  ]) {
    assert.deepEqual(decodeFileMsg(bad), { error: 'malformed' }, bad);
  }
  assert.deepEqual(decodeFileMsg(new ArrayBuffer(8)), { error: 'malformed' }, 'binary frames');
  assert.deepEqual(decodeFileMsg(' '.repeat(MAX_FILE_MESSAGE_BYTES + 1)), { error: 'too_large' });
  // Over the limit in bytes, under it in UTF-16 units.
  assert.deepEqual(decodeFileMsg(offer('密'.repeat(1400))), { error: 'too_large' });
  // The largest offer that may travel fits a message.
  const largest = encodeFileMsg({ type: 'offer', id: 'v'.repeat(32), name: 'x'.repeat(MAX_NAME_BYTES), size: Number.MAX_SAFE_INTEGER });
  assert.ok(Buffer.byteLength(largest) <= MAX_FILE_MESSAGE_BYTES);
});

test('the end message carries 64 lower-case hex digits, nothing else', () => {
  const hash = 'ab'.repeat(32);
  assert.equal(encodeEnd(hash), `{"type":"end","sha256":"${hash}"}`);
  assert.equal(decodeEnd(encodeEnd(hash)), hash);
  for (const bad of [
    encodeEnd('A'.repeat(64)), encodeEnd('ab'.repeat(31)), encodeEnd(`${hash}0`), '{"type":"end"}',
    `{"type":"end","sha256":"${hash}","size":1}`, `{"type":"done","sha256":"${hash}"}`, 'garbage',
    '', 'null', new ArrayBuffer(2),
  ]) {
    assert.equal(decodeEnd(bad), null, String(bad));
  }
});

test('the page\'s ids are v1, v2, ...', () => {
  const ids = new TransferIds();
  assert.deepEqual([ids.next(), ids.next(), ids.next()], ['v1', 'v2', 'v3']);
  assert.ok(isTransferId(new TransferIds().next()));
});

// ---- Names and sizes ------------------------------------------------------------------------

test('names are plain: no path, no control or bidi characters, no leading dots, never empty', () => {
  const cases = [
    ['report.pdf', 'report.pdf'],
    ['../../.bashrc', 'bashrc'],
    ['/etc/passwd', 'passwd'],
    ['C:\\Users\\sam\\Desktop\\notes.txt', 'notes.txt'],
    ['..\\..\\evil.exe', 'evil.exe'],
    ['photos/', 'photos'],
    ['...hidden', 'hidden'],
    ['  spaced name.txt  ', 'spaced name.txt'],
    ['a\u0000b\u001bc\u007f\u009f.txt', 'abc.txt'],
    ['invoice\u202etxt.exe', 'invoicetxt.exe'],
    ['line\u2028break', 'linebreak'],
    ['Grüße 密码 😀.txt', 'Grüße 密码 😀.txt'],
    ['report (1).pdf', 'report (1).pdf'],
    ['', 'file'],
    ['..', 'file'],
    ['/', 'file'],
    ['.', 'file'],
    ['\u0001\u0002', 'file'],
    [null, 'file'],
    [undefined, 'file'],
  ];
  for (const [name, plain] of cases) assert.equal(plainName(name), plain, JSON.stringify(name));
  // At most 255 bytes, the extension kept, never cut inside a character.
  const long = plainName(`${'密'.repeat(200)}.tar.gz`);
  assert.ok(Buffer.byteLength(long) <= 255, `${Buffer.byteLength(long)} bytes`);
  assert.ok(long.endsWith('密.gz'), long.slice(-10));
  assert.equal(plainName('x'.repeat(300)), 'x'.repeat(255));
  assert.equal(plainName('x\ud800.txt'), 'x\ufffd.txt', 'no lone surrogates');
});

test('sizes and rates in binary units', () => {
  assert.equal(formatBytes(0), '0 B');
  assert.equal(formatBytes(1023), '1023 B');
  assert.equal(formatBytes(1024), '1.0 KiB');
  assert.equal(formatBytes(1536), '1.5 KiB');
  assert.equal(formatBytes(1048575), '1.0 MiB', 'not 1024.0 KiB');
  assert.equal(formatBytes(20 * 1048576), '20.0 MiB');
  assert.equal(formatBytes(1073741824), '1.0 GiB');
  assert.equal(formatBytes(5 * 2 ** 40), '5.0 TiB');
  assert.equal(formatBytes(-1), '?');
  assert.equal(formatRate(8.1 * 1048576), '8.1 MiB/s');
  assert.equal(formatRate(500), '500 B/s');
  assert.equal(percent(0, 100), 0);
  assert.equal(percent(99, 100), 99);
  assert.equal(percent(100, 100), 100);
  assert.equal(percent(0, 0), 100, 'an empty file is done');
  assert.equal(percent(1, 3), 33);
});

// ---- Hashing, chunking, back-pressure -------------------------------------------------------

test('SHA-256 is the standard one, in one piece or many', () => {
  assert.equal(sha256Hex(new Uint8Array(0)), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  assert.equal(sha256Hex(new TextEncoder().encode('abc')), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  for (const n of [1, 55, 56, 63, 64, 65, 119, 120, 127, 128, 1000, 70_000]) {
    const bytes = randomBytes(n);
    assert.equal(sha256Hex(bytes), sha(bytes), `${n} bytes`);
    const h = new Sha256();
    for (let at = 0, step = 1; at < n; at += step, step = (step * 7) % 97 + 1) h.update(bytes.subarray(at, at + step));
    assert.equal(h.hex(), sha(bytes), `${n} bytes in pieces`);
    assert.equal(h.hex(), sha(bytes), 'asked twice');
    assert.throws(() => h.update(new Uint8Array(1)), /after digest/);
  }
  // ArrayBuffers and views of part of a buffer.
  const buffer = randomBytes(300);
  assert.equal(sha256Hex(buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + 300)), sha(buffer));
  assert.equal(sha256Hex(new DataView(buffer.buffer, buffer.byteOffset + 10, 100)), sha(buffer.subarray(10, 110)));
});

test('files go in chunks of at most 16 KiB, read in blocks', () => {
  assert.equal(MAX_CHUNK_BYTES, 16384);
  const bytes = randomBytes(100_000);
  const chunks = chunkViews(bytes);
  assert.equal(chunks.length, 7);
  assert.ok(chunks.every((c) => c.length <= MAX_CHUNK_BYTES));
  assert.deepEqual(chunks.map((c) => c.length).slice(-2), [16384, 100_000 - 6 * 16384]);
  assert.ok(Buffer.concat(chunks).equals(bytes), 'in order, nothing lost');
  assert.deepEqual(chunkViews(new Uint8Array(0)), []);
  assert.deepEqual(chunkViews(new ArrayBuffer(16384)).map((c) => c.length), [16384]);
  assert.deepEqual(blockRanges(0), []);
  assert.deepEqual(blockRanges(10, 4), [[0, 4], [4, 8], [8, 10]]);
  assert.deepEqual(blockRanges(8, 4), [[0, 4], [4, 8]]);
});

test('a sender keeps at most 1 MiB queued and is always woken again', () => {
  assert.equal(MAX_BUFFERED_BYTES, 1024 * 1024);
  assert.ok(mayQueue(0, MAX_CHUNK_BYTES));
  assert.ok(mayQueue(MAX_BUFFERED_BYTES - MAX_CHUNK_BYTES, MAX_CHUNK_BYTES));
  assert.ok(!mayQueue(MAX_BUFFERED_BYTES - MAX_CHUNK_BYTES + 1, MAX_CHUNK_BYTES));
  assert.ok(!mayQueue(MAX_BUFFERED_BYTES, 1));
  assert.ok(mayQueue(0, 10 * MAX_BUFFERED_BYTES), 'an empty queue takes anything');
  // Whenever it waits, the queue is above the low-water mark: `bufferedamountlow` will come.
  for (let buffered = 1; buffered <= MAX_BUFFERED_BYTES + MAX_CHUNK_BYTES; buffered += 1021) {
    if (!mayQueue(buffered, MAX_CHUNK_BYTES)) assert.ok(buffered > LOW_WATER_BYTES, `${buffered}`);
  }
});

// ---- The receiver's accounting --------------------------------------------------------------

test('the receiver takes what was offered, checks length and hash, and drops the rest', () => {
  const file = randomBytes(40_000);
  const whole = new Receiver(file.length);
  for (const c of chunkViews(file)) assert.ok(whole.chunk(c));
  assert.equal(whole.bytes, 40_000);
  assert.deepEqual(whole.end(encodeEnd(sha(file))), { ok: true, sha256: sha(file) });
  assert.ok(Buffer.concat(whole.chunks).equals(file), 'the chunks are kept for the download');

  const over = new Receiver(100);
  assert.ok(over.chunk(new Uint8Array(60)));
  assert.equal(over.chunk(new Uint8Array(41)), false, 'more than offered');
  assert.deepEqual(over.chunks, [], 'dropped at once');
  assert.equal(over.chunk(new Uint8Array(1)), false, 'and stays failed');
  assert.equal(over.end(encodeEnd(sha(new Uint8Array(100)))).ok, false);

  const short = new Receiver(100);
  short.chunk(new Uint8Array(99));
  assert.deepEqual(short.end(encodeEnd(sha(new Uint8Array(99)))), { ok: false, why: 'short' });
  assert.deepEqual(short.chunks, []);

  const wrong = new Receiver(3);
  wrong.chunk(new Uint8Array([1, 2, 3]));
  const result = wrong.end(encodeEnd(sha(new Uint8Array([1, 2, 4]))));
  assert.equal(result.ok, false);
  assert.equal(result.why, 'hash');
  assert.deepEqual(wrong.chunks, []);

  const garbled = new Receiver(0);
  assert.deepEqual(garbled.end('{"type":"end","sha256":"nope"}'), { ok: false, why: 'malformed' });
  assert.deepEqual(new Receiver(0).end(encodeEnd(sha(Buffer.alloc(0)))).ok, true, 'an empty file');
});

test('throughput over the last seconds', () => {
  const meter = new Throughput(2000);
  assert.equal(meter.rate(), 0);
  meter.sample(0, 0);
  assert.equal(meter.rate(), 0);
  meter.sample(1000, 8 * 1048576);
  assert.equal(meter.rate(), 8 * 1048576);
  meter.sample(1050, 9 * 1048576);
  assert.equal(meter.samples.length, 2, 'close samples are not kept');
  assert.equal(meter.rate(), (9 * 1048576) / 1.05, 'but the latest counts');
  // A stall long ago no longer counts.
  meter.sample(10_000, 9 * 1048576);
  meter.sample(11_000, 10 * 1048576);
  assert.equal(meter.rate(), 1048576);
});

test('states follow each other as the protocol has it', () => {
  assert.ok(mayFollow('queued', 'offered'));
  assert.ok(mayFollow('offered', 'sending'));
  assert.ok(mayFollow('sending', 'ending'));
  assert.ok(mayFollow('ending', 'saved'));
  assert.ok(mayFollow('offered', 'rejected'));
  assert.ok(mayFollow('receiving', 'saved'));
  assert.ok(!mayFollow('sending', 'saved'), 'saved only after the end message');
  assert.ok(!mayFollow('saved', 'cancelled'));
  assert.ok(!mayFollow('cancelled', 'sending'));
  assert.ok(!mayFollow('rejected', 'sending'));
  const t = { direction: 'send', size: 100, bytes: 45, rate: 8.1 * 1048576, savedAs: 'a (1).txt' };
  assert.equal(stateText({ ...t, state: 'sending' }), '45 % · 8.1 MiB/s');
  assert.equal(stateText({ ...t, state: 'rejected', reason: 'view_only' }), 'Refused: no file transfer in a view-only session');
  assert.equal(stateText({ ...t, state: 'failed', reason: 'corrupt' }), 'Failed: the file arrived damaged and was deleted');
  assert.match(stateText({ ...t, state: 'saved' }), /^Saved on the computer as “a \(1\)\.txt”/);
  assert.equal(stateText({ ...t, state: 'cancelled', by: 'computer' }), 'Cancelled by the computer');
  assert.equal(stateText({ ...t, direction: 'receive', state: 'rejected', reason: 'too_large' }),
    'Not taken: over the browser\'s limit of 1 GiB');
});

// ---- FileTransfers --------------------------------------------------------------------------

/** A data channel that queues what is sent until drain() says it went. */
class FakeChannel {
  constructor(label, { open = false } = {}) {
    this.label = label;
    this.readyState = open ? 'open' : 'connecting';
    this.bufferedAmount = 0;
    this.bufferedAmountLowThreshold = 0;
    this.maxBuffered = 0;
    this.binary = [];
    this.text = [];
    this.closed = false;
  }

  open() {
    this.readyState = 'open';
    if (this.onopen) this.onopen();
  }

  send(data) {
    if (this.readyState !== 'open') throw new Error('InvalidStateError: not open');
    if (typeof data === 'string') {
      this.text.push(data);
      return;
    }
    assert.ok(data.byteLength <= MAX_CHUNK_BYTES, `a chunk of ${data.byteLength} bytes`);
    this.binary.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    this.bufferedAmount += data.byteLength;
    this.maxBuffered = Math.max(this.maxBuffered, this.bufferedAmount);
  }

  /** `n` bytes (all) went out; `bufferedamountlow` as the browser fires it. */
  drain(n = Infinity) {
    const before = this.bufferedAmount;
    this.bufferedAmount = Math.max(0, before - n);
    if (before > this.bufferedAmountLowThreshold && this.bufferedAmount <= this.bufferedAmountLowThreshold
      && this.onbufferedamountlow) {
      this.onbufferedamountlow();
    }
  }

  get sentBytes() {
    return Buffer.concat(this.binary);
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    this.readyState = 'closed';
    if (this.onclose) this.onclose();
  }

  /** Messages from the other side. */
  deliver(data) {
    this.onmessage({ data });
  }
}

/** FileTransfers attached to a fake `files` channel; `s.from(msg)` is the agent speaking. */
function transfers({ attach = true, viewOnly = false, maxReceiveBytes } = {}) {
  const s = { sent: [], channels: [], events: [], available: [], urls: [], revoked: [], t: 0 };
  s.channelOpen = true;
  s.viewOnlyElsewhere = viewOnly;
  s.files = new FileTransfers({
    now: () => s.t,
    makeUrl: (chunks, name) => {
      const url = `blob:test/${s.urls.length}`;
      s.urls.push({ url, name, bytes: Buffer.concat(chunks.map((c) => Buffer.from(c))) });
      return url;
    },
    revokeUrl: (url) => s.revoked.push(url),
    viewOnly: () => s.viewOnlyElsewhere,
    onEvent: (t) => s.events.push(t),
    onAvailable: (a) => s.available.push(a),
    ...(maxReceiveBytes === undefined ? {} : { maxReceiveBytes }),
  });
  s.send = (frame) => {
    if (!s.channelOpen) return false;
    s.sent.push(JSON.parse(frame));
    return true;
  };
  s.open = (label) => {
    const channel = new FakeChannel(label);
    s.channels.push(channel);
    return channel;
  };
  if (attach) s.files.attach(s.send, s.open);
  s.from = (msg) => s.files.onMessage(typeof msg === 'string' ? msg : encodeFileMsg(msg));
  s.list = s.files.list;
  s.last = () => s.sent[s.sent.length - 1];
  s.states = (id) => s.events.filter((e) => e.id === id).map((e) => e.state);
  return s;
}

const fileOf = (bytes, name) => new File([bytes], name);

/** Drains `channel` until the pump has sent `total` bytes and its end message. */
async function drainAll(channel, total) {
  await until(() => {
    channel.drain();
    return channel.text.length > 0 || channel.closed;
  }, `all ${total} bytes sent`);
}

test('a file goes to the computer: offer, accept, chunks under back-pressure, end, saved', async () => {
  const s = transfers();
  assert.equal(s.files.available, true);
  assert.deepEqual(s.available, [true]);
  const bytes = randomBytes(3 * 1024 * 1024 + 12_345);
  const t = s.files.sendFile(fileOf(bytes, 'installer.deb'));
  assert.equal(t.id, 'v1');
  assert.deepEqual(s.sent, [{ type: 'offer', id: 'v1', name: 'installer.deb', size: bytes.length }]);
  assert.equal(t.state, 'offered');
  assert.equal(s.list[0], t, 'window.tether.files holds the record itself');

  s.from({ type: 'accept', id: 'v1' });
  assert.equal(t.state, 'sending');
  assert.equal(s.channels.length, 1);
  const channel = s.channels[0];
  assert.equal(channel.label, 'file:v1');
  assert.equal(channel.bufferedAmountLowThreshold, LOW_WATER_BYTES);
  await settle();
  assert.equal(channel.binary.length, 0, 'nothing before the channel is open');

  channel.open();
  // The pump fills the queue to 1 MiB and waits: no busy loop, no more sends.
  await until(() => channel.bufferedAmount >= MAX_BUFFERED_BYTES - MAX_CHUNK_BYTES, 'the queue filled');
  for (let i = 0; i < 20; i += 1) await settle();
  assert.equal(channel.bufferedAmount, MAX_BUFFERED_BYTES, 'waiting at the limit');
  assert.equal(t.bytes, MAX_BUFFERED_BYTES);
  // Draining to just above the low-water mark wakes nobody; below it does.
  channel.drain(MAX_BUFFERED_BYTES - LOW_WATER_BYTES - 1);
  for (let i = 0; i < 20; i += 1) await settle();
  assert.equal(t.bytes, MAX_BUFFERED_BYTES);
  channel.drain(1);
  await until(() => t.bytes > MAX_BUFFERED_BYTES, 'woken by bufferedamountlow');

  s.t = 2000;
  await drainAll(channel, bytes.length);
  assert.ok(channel.maxBuffered <= MAX_BUFFERED_BYTES, `${channel.maxBuffered} queued at most`);
  assert.ok(channel.sentBytes.equals(bytes), 'every byte, in order');
  assert.deepEqual(channel.text, [encodeEnd(sha(bytes))]);
  assert.equal(t.state, 'ending');
  assert.equal(t.bytes, bytes.length);
  assert.equal(channel.closed, false, 'open until the answer');

  s.t = 2500;
  s.from({ type: 'saved', id: 'v1', name: 'installer (1).deb' });
  assert.equal(t.state, 'saved');
  assert.equal(t.savedAs, 'installer (1).deb');
  assert.equal(t.ms, 2500);
  assert.ok(t.rate > 0);
  assert.equal(channel.closed, true, 'the sender closes its channel');
  assert.deepEqual(s.states('v1'), ['queued', 'offered', 'sending', 'ending', 'saved']);
  // A late or repeated answer changes nothing.
  s.from({ type: 'failed', id: 'v1', reason: 'corrupt' });
  assert.equal(t.state, 'saved');
});

test('an empty file is offered and ends at once; names are offered plain', async () => {
  const s = transfers();
  const t = s.files.sendFile(fileOf(new Uint8Array(0), '../../.bashrc'));
  assert.deepEqual(s.last(), { type: 'offer', id: 'v1', name: 'bashrc', size: 0 });
  s.from({ type: 'accept', id: 'v1' });
  s.channels[0].open();
  await until(() => t.state === 'ending');
  assert.deepEqual(s.channels[0].text, [encodeEnd(sha(Buffer.alloc(0)))]);
  assert.equal(s.channels[0].binary.length, 0);
});

test('refusals are kept with their reason; view_only and off stop Send file', () => {
  const s = transfers();
  const a = s.files.sendFile(fileOf(new Uint8Array(5), 'a.txt'));
  const b = s.files.sendFile(fileOf(new Uint8Array(5), 'b.txt'));
  s.from({ type: 'reject', id: 'v1', reason: 'too_large' });
  assert.equal(a.state, 'rejected');
  assert.equal(a.reason, 'too_large');
  assert.equal(s.files.available, true, 'too_large says nothing about the next file');
  s.from({ type: 'reject', id: 'v2', reason: 'view_only' });
  assert.equal(b.reason, 'view_only');
  assert.equal(s.files.state.viewOnly, true);
  assert.equal(s.files.available, false);
  assert.equal(s.files.state.available, false);
  assert.deepEqual(s.available, [true, false]);
  assert.equal(s.channels.length, 0, 'no channel for a refused file');

  const off = transfers();
  off.files.sendFile(fileOf(new Uint8Array(5), 'a.txt'));
  off.from({ type: 'reject', id: 'v1', reason: 'off' });
  assert.equal(off.files.state.off, true);
  assert.equal(off.files.available, false);
});

test('the clipboard\'s view-only news hides Send file too', () => {
  const s = transfers();
  assert.equal(s.files.available, true);
  s.viewOnlyElsewhere = true;
  s.files.changed();
  assert.equal(s.files.available, false);
  assert.equal(s.files.state.viewOnly, true);
  assert.deepEqual(s.available, [true, false]);
  // Still offered if asked (the agent is the judge): the answer explains it.
  const t = s.files.sendFile(fileOf(new Uint8Array(5), 'a.txt'));
  assert.equal(t.state, 'offered');
  assert.ok(transfers({ viewOnly: true }).files.available === false);
});

test('at most 4 files at a time; the rest wait their turn', () => {
  const s = transfers();
  const all = [1, 2, 3, 4, 5, 6].map((n) => s.files.sendFile(fileOf(new Uint8Array(n), `${n}.txt`)));
  assert.equal(MAX_ACTIVE, 4);
  assert.deepEqual(all.map((t) => t.state), ['offered', 'offered', 'offered', 'offered', 'queued', 'queued']);
  assert.deepEqual(s.sent.map((m) => m.id), ['v1', 'v2', 'v3', 'v4']);
  s.from({ type: 'reject', id: 'v2', reason: 'declined' });
  assert.equal(all[4].state, 'offered');
  assert.equal(all[5].state, 'queued');
  assert.ok(s.files.cancel('v6'), 'a queued file is just dropped');
  assert.equal(all[5].state, 'cancelled');
  assert.ok(!s.sent.some((m) => m.id === 'v6'), 'the computer never heard of it');
  assert.equal(s.files.cancel('v6'), false, 'only once');
});

test('cancel: ours stops the pump and tells the computer; theirs, or a closed channel, too', async () => {
  const s = transfers();
  const bytes = randomBytes(2 * 1024 * 1024);
  const t = s.files.sendFile(fileOf(bytes, 'big.iso'));
  s.from({ type: 'accept', id: 'v1' });
  const channel = s.channels[0];
  channel.open();
  await until(() => t.bytes >= MAX_BUFFERED_BYTES - MAX_CHUNK_BYTES);
  assert.ok(s.files.cancel('v1'));
  assert.deepEqual(s.last(), { type: 'cancel', id: 'v1' });
  assert.equal(t.state, 'cancelled');
  assert.equal(t.by, 'you');
  assert.equal(channel.closed, true);
  const sent = channel.binary.length;
  channel.drain();
  for (let i = 0; i < 30; i += 1) await settle();
  assert.equal(channel.binary.length, sent, 'nothing more after the cancel');
  assert.equal(channel.text.length, 0, 'no end message');
  s.from({ type: 'saved', id: 'v1', name: 'big.iso' });
  assert.equal(t.state, 'cancelled', 'late answers are dropped');

  // The computer cancels.
  const u = s.files.sendFile(fileOf(bytes, 'again.iso'));
  s.from({ type: 'accept', id: 'v2' });
  s.channels[1].open();
  await until(() => u.bytes > 0);
  s.from({ type: 'cancel', id: 'v2' });
  assert.equal(u.state, 'cancelled');
  assert.equal(u.by, 'computer');
  assert.equal(s.channels[1].closed, true);

  // The transfer channel closes before the end message: a cancel.
  const w = s.files.sendFile(fileOf(bytes, 'third.iso'));
  s.from({ type: 'accept', id: 'v3' });
  s.channels[2].open();
  await until(() => w.bytes > 0);
  s.channels[2].close();
  assert.equal(w.state, 'cancelled');
  assert.equal(w.by, 'computer');
  for (let i = 0; i < 30; i += 1) await settle();
  assert.equal(s.channels[2].text.length, 0);
});

test('a file that cannot be read fails and is cancelled on the computer', async () => {
  const s = transfers();
  const broken = { name: 'gone.txt', size: 10, slice: () => ({ arrayBuffer: async () => { throw new Error('NotReadableError'); } }) };
  const t = s.files.sendFile(broken);
  s.from({ type: 'accept', id: 'v1' });
  s.channels[0].open();
  await until(() => t.state === 'failed');
  assert.equal(t.reason, 'read_failed');
  assert.deepEqual(s.last(), { type: 'cancel', id: 'v1' });
  assert.equal(s.channels[0].closed, true);
  // Shorter than it said (changed on disk since it was picked).
  const shrunk = { name: 'log.txt', size: 10, slice: () => new Blob([new Uint8Array(4)]) };
  const u = s.files.sendFile(shrunk);
  s.from({ type: 'accept', id: 'v2' });
  s.channels[1].open();
  await until(() => u.state === 'failed');
  assert.equal(u.reason, 'read_failed');
});

test('the computer fails a file: the reason is kept', async () => {
  const s = transfers();
  const t = s.files.sendFile(fileOf(randomBytes(1000), 'x.bin'));
  s.from({ type: 'accept', id: 'v1' });
  s.channels[0].open();
  await until(() => t.state === 'ending');
  s.from({ type: 'failed', id: 'v1', reason: 'corrupt' });
  assert.equal(t.state, 'failed');
  assert.equal(t.reason, 'corrupt');
  assert.equal(s.channels[0].closed, true);
});

test('without a files channel nothing is offered', () => {
  const s = transfers({ attach: false });
  assert.equal(s.files.available, false);
  const t = s.files.sendFile(fileOf(new Uint8Array(1), 'a.txt'));
  assert.equal(t.state, 'failed');
  assert.equal(t.reason, 'unavailable');
  assert.deepEqual(s.sent, []);
});

test('answers for unknown or finished transfers, and bad frames, are dropped and counted', () => {
  const s = transfers();
  s.from({ type: 'accept', id: 'v9' });
  s.from({ type: 'saved', id: 'v9', name: 'x' });
  s.from('{"type":"accept","id":"V1"}');
  s.from('not json');
  assert.equal(s.files.state.dropped, 4);
  const t = s.files.sendFile(fileOf(new Uint8Array(1), 'a.txt'));
  s.from({ type: 'saved', id: 'v1', name: 'a.txt' });
  assert.equal(t.state, 'offered', 'saved before anything was sent');
  assert.equal(s.channels.length, 0);
  assert.equal(s.files.state.dropped, 5);
});

/** The computer offers `bytes`; the page's channel for it is opened. */
function incoming(s, id, bytes, name) {
  s.from({ type: 'offer', id, name, size: bytes.length });
  const channel = new FakeChannel(`file:${id}`, { open: true });
  s.files.onTransferChannel(channel);
  return channel;
}

test('a file from the computer is taken, checked and offered as a download', () => {
  const s = transfers();
  const bytes = randomBytes(100_000);
  s.from({ type: 'offer', id: 'a1', name: 'screenshot.png', size: bytes.length });
  assert.deepEqual(s.last(), { type: 'accept', id: 'a1' });
  const t = s.list[0];
  assert.equal(t.direction, 'receive');
  assert.equal(t.state, 'receiving');
  const channel = new FakeChannel('file:a1', { open: true });
  s.files.onTransferChannel(channel);
  assert.equal(channel.binaryType, 'arraybuffer');
  for (const c of chunkViews(bytes)) {
    const copy = new Uint8Array(c).buffer;
    channel.deliver(copy);
  }
  assert.equal(t.bytes, bytes.length);
  channel.deliver(encodeEnd(sha(bytes)));
  assert.equal(t.state, 'saved');
  assert.equal(t.sha256, sha(bytes));
  assert.equal(t.savedAs, 'screenshot.png');
  assert.equal(t.url, 'blob:test/0');
  assert.ok(s.urls[0].bytes.equals(bytes), 'the download holds the file');
  assert.equal(s.urls[0].name, 'screenshot.png');
  assert.deepEqual(s.last(), { type: 'saved', id: 'a1', name: 'screenshot.png' });
  assert.equal(channel.closed, false, 'the sender closes it after the answer');
  channel.close();
  assert.equal(t.state, 'saved');
  assert.deepEqual(s.states('a1'), ['offered', 'receiving', 'saved']);
});

test('received names are plain; a hostile name is saved under its plain form', () => {
  const s = transfers();
  const bytes = Buffer.from('export EVIL=1\n');
  const channel = incoming(s, 'a1', bytes, '../../.bashrc');
  channel.deliver(new Uint8Array(bytes).buffer);
  channel.deliver(encodeEnd(sha(bytes)));
  assert.equal(s.list[0].name, '../../.bashrc', 'as offered');
  assert.equal(s.list[0].savedAs, 'bashrc');
  assert.deepEqual(s.last(), { type: 'saved', id: 'a1', name: 'bashrc' });
});

test('more bytes than offered, too few, or a wrong hash: failed{corrupt}, nothing kept', () => {
  const s = transfers();
  const bytes = randomBytes(1000);

  const over = incoming(s, 'a1', bytes, 'over.bin');
  over.deliver(new Uint8Array(bytes).buffer);
  over.deliver(new Uint8Array(1).buffer);
  assert.deepEqual(s.last(), { type: 'failed', id: 'a1', reason: 'corrupt' });
  assert.equal(s.list[0].state, 'failed');
  assert.equal(s.list[0].reason, 'corrupt');
  assert.equal(over.closed, true, 'dropped at once');
  over.deliver(encodeEnd(sha(bytes)));
  assert.equal(s.list[0].state, 'failed');

  const short = incoming(s, 'a2', bytes, 'short.bin');
  short.deliver(new Uint8Array(bytes.subarray(0, 999)).buffer);
  short.deliver(encodeEnd(sha(bytes.subarray(0, 999))));
  assert.deepEqual(s.last(), { type: 'failed', id: 'a2', reason: 'corrupt' });
  assert.equal(short.closed, true);

  const wrong = incoming(s, 'a3', bytes, 'wrong.bin');
  wrong.deliver(new Uint8Array(bytes).buffer);
  wrong.deliver(encodeEnd(sha(Buffer.from('something else'))));
  assert.deepEqual(s.last(), { type: 'failed', id: 'a3', reason: 'corrupt' });
  assert.equal(s.list[2].sha256, undefined);

  const garbled = incoming(s, 'a4', bytes, 'garbled.bin');
  garbled.deliver(new Uint8Array(bytes).buffer);
  garbled.deliver('{"type":"end"}');
  assert.deepEqual(s.last(), { type: 'failed', id: 'a4', reason: 'corrupt' });
  assert.equal(s.urls.length, 0, 'no download for any of them');
});

test('offers over 1 GiB, beyond 4 at a time, or with a used id are refused', () => {
  assert.equal(MAX_RECEIVE_BYTES, 2 ** 30);
  const s = transfers();
  s.from({ type: 'offer', id: 'a1', name: 'huge.iso', size: MAX_RECEIVE_BYTES + 1 });
  assert.deepEqual(s.last(), { type: 'reject', id: 'a1', reason: 'too_large' });
  assert.equal(s.list[0].state, 'rejected');
  assert.equal(s.list[0].reason, 'too_large');
  s.from({ type: 'offer', id: 'a2', name: 'just.iso', size: MAX_RECEIVE_BYTES });
  assert.deepEqual(s.last(), { type: 'accept', id: 'a2' });
  s.from({ type: 'offer', id: 'a2', name: 'again.iso', size: 1 });
  assert.deepEqual(s.last(), { type: 'reject', id: 'a2', reason: 'busy' });
  assert.equal(s.list.length, 2, 'no record for a duplicate');
  // 1 GiB is under way: no room for more in memory.
  s.from({ type: 'offer', id: 'a3', name: 'more.bin', size: 1 });
  assert.deepEqual(s.last(), { type: 'reject', id: 'a3', reason: 'busy' });

  const few = transfers();
  for (const n of [1, 2, 3, 4, 5]) few.from({ type: 'offer', id: `a${n}`, name: `${n}.txt`, size: 10 });
  assert.deepEqual(few.sent.map((m) => m.type), ['accept', 'accept', 'accept', 'accept', 'reject']);
  assert.equal(few.last().reason, 'busy');
});

test('the computer cancels, or its channel closes early: the partial file is dropped', () => {
  const s = transfers();
  const bytes = randomBytes(50_000);
  const a = incoming(s, 'a1', bytes, 'a.bin');
  a.deliver(new Uint8Array(bytes.subarray(0, 16384)).buffer);
  s.from({ type: 'cancel', id: 'a1' });
  assert.equal(s.list[0].state, 'cancelled');
  assert.equal(s.list[0].by, 'computer');
  assert.equal(a.closed, true);
  assert.equal(s.files.work.get('a1').receiver, null, 'chunks let go');

  const b = incoming(s, 'a2', bytes, 'b.bin');
  b.deliver(new Uint8Array(bytes.subarray(0, 16384)).buffer);
  b.close();
  assert.equal(s.list[1].state, 'cancelled');

  // Our Cancel tells the computer.
  const c = incoming(s, 'a3', bytes, 'c.bin');
  assert.ok(s.files.cancel('a3'));
  assert.deepEqual(s.last(), { type: 'cancel', id: 'a3' });
  assert.equal(c.closed, true);
  assert.equal(s.urls.length, 0);
});

test('transfer channels for no accepted transfer are closed', () => {
  const s = transfers();
  const stray = new FakeChannel('file:a9', { open: true });
  s.files.onTransferChannel(stray);
  assert.equal(stray.closed, true);
  s.files.sendFile(fileOf(new Uint8Array(1), 'a.txt'));
  const mine = new FakeChannel('file:v1', { open: true });
  s.files.onTransferChannel(mine);
  assert.equal(mine.closed, true, 'the page opens its own transfers\' channels');
  incoming(s, 'a1', Buffer.alloc(10), 'x');
  const second = new FakeChannel('file:a1', { open: true });
  s.files.onTransferChannel(second);
  assert.equal(second.closed, true, 'one channel per transfer');
});

test('the session ends: running transfers fail; a new session starts with none', async () => {
  const s = transfers();
  const bytes = randomBytes(2 * 1024 * 1024);
  const sending = s.files.sendFile(fileOf(bytes, 'big.iso'));
  s.from({ type: 'accept', id: 'v1' });
  s.channels[0].open();
  await until(() => sending.bytes > 0);
  const done = incoming(s, 'a1', Buffer.from('hi'), 'hi.txt');
  done.deliver(new Uint8Array(Buffer.from('hi')).buffer);
  done.deliver(encodeEnd(sha(Buffer.from('hi'))));
  const partial = incoming(s, 'a2', bytes, 'part.bin');
  s.files.detach();
  assert.equal(sending.state, 'failed');
  assert.equal(sending.reason, 'disconnected');
  assert.equal(s.list[2].state, 'failed');
  assert.equal(s.list[1].state, 'saved', 'a received file keeps its link');
  assert.equal(partial.closed, true);
  assert.equal(s.files.available, false);
  assert.equal(s.files.state.open, false);
  const list = s.list;
  s.files.reset();
  assert.equal(s.list, list, 'emptied in place: window.tether.files stays the same array');
  assert.equal(list.length, 0);
  assert.deepEqual(s.revoked, ['blob:test/0']);
  s.files.attach(s.send, s.open);
  assert.equal(s.files.sendFile(fileOf(new Uint8Array(1), 'a.txt')).id, 'v1', 'ids start again');
  assert.deepEqual(newFilesState(), { open: false, viewOnly: false, off: false, available: false, dropped: 0 });
});
