// The clipboard channel (clipboard.js) against docs/protocol.md and proto/src/clipboard.rs: the
// wire form and its limits, ClipboardSync's sequence numbers, answers, time limits and echo
// suppression, the refusals in words, and the pieces "Type clipboard" sends.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import {
  ANSWER_TIMEOUT_MS, ClipboardSync, MAX_CLIPBOARD_MESSAGE_BYTES, MAX_CLIPBOARD_TEXT_BYTES,
  MAX_INPUT_BYTES, NOTICE, READ_TIMEOUT_MS, REFUSAL_TEXT, clipboardTextProblem, decodeClipboard,
  encodeApplied, encodeRefused, encodeText, newClipboardStatus, textMessages, typeClipboard,
  typeableText,
} from '../clipboard.js';
import { utf8Length } from '../text.js';

const bytes = (s) => Buffer.byteLength(s, 'utf8');
const settle = () => new Promise((resolve) => setImmediate(resolve));

/** Time that moves only when told. */
class FakeClock {
  constructor() {
    this.t = 0;
    this.timers = new Map();
    this.nextId = 1;
  }

  setTimeout(f, ms) {
    const id = this.nextId++;
    this.timers.set(id, { f, at: this.t + ms });
    return id;
  }

  clearTimeout(id) { this.timers.delete(id); }

  advance(ms) {
    const end = this.t + ms;
    for (;;) {
      const due = [...this.timers].filter(([, t]) => t.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      this.timers.delete(due[0]);
      this.t = due[1].at;
      due[1].f();
    }
    this.t = end;
  }
}

/** A ClipboardSync on an open fake channel, with a browser clipboard that may refuse writes. */
function sync({ writeFails = false, open = true } = {}) {
  const s = { sent: [], notices: [], events: [], written: [], changes: [], clock: new FakeClock() };
  s.writeFails = writeFails;
  s.channelOpen = true;
  s.sync = new ClipboardSync({
    send: (frame) => {
      if (!s.channelOpen) return false;
      s.sent.push(JSON.parse(frame));
      return true;
    },
    write: async (text) => {
      if (s.writeFails) throw new Error('Document is not focused.');
      s.written.push(text);
    },
    clock: s.clock,
    notify: (n) => s.notices.push(n),
    onEvent: (e) => s.events.push(e),
    onChange: (available) => s.changes.push(available),
  });
  if (open) s.sync.opened();
  s.from = (msg) => s.sync.onMessage(JSON.stringify(msg));
  return s;
}

// ---- The wire -------------------------------------------------------------------------------

test('the wire form is the documented one', () => {
  assert.equal(encodeText(1, 'ssh admin@host\n'), '{"type":"text","seq":1,"text":"ssh admin@host\\n"}');
  assert.equal(encodeApplied(1), '{"type":"applied","seq":1}');
  assert.equal(encodeRefused(2, 'view_only'), '{"type":"refused","seq":2,"reason":"view_only"}');
  for (const frame of [encodeText(7, 'tab\tcrlf\r\n ünïcödé 密码'), encodeApplied(1), encodeRefused(2, 'failed')]) {
    assert.deepEqual(decodeClipboard(frame).msg, JSON.parse(frame));
  }
});

test('text is at most 30720 bytes of UTF-8, counted in bytes, not characters', () => {
  assert.equal(MAX_CLIPBOARD_TEXT_BYTES, 30720);
  assert.equal(clipboardTextProblem('x'.repeat(30720)), null);
  assert.equal(clipboardTextProblem('x'.repeat(30721)), 'too_large');
  // 'é' is 2 bytes, '密' 3, '😀' 4 (and 2 UTF-16 units): the limit is in bytes.
  assert.equal(clipboardTextProblem('é'.repeat(15360)), null);
  assert.equal(clipboardTextProblem('é'.repeat(15361)), 'too_large');
  assert.equal(clipboardTextProblem('密'.repeat(10240)), null);
  assert.equal(clipboardTextProblem('密'.repeat(10241)), 'too_large');
  assert.equal(clipboardTextProblem('😀'.repeat(7680)), null);
  assert.equal(clipboardTextProblem(`${'😀'.repeat(7680)}x`), 'too_large');
  assert.equal(encodeText(1, 'x'.repeat(30721)), null, 'not encoded');
  // The worst text that may travel still fits one message.
  const worst = encodeText(Number.MAX_SAFE_INTEGER, '\n'.repeat(30720));
  assert.ok(bytes(worst) <= MAX_CLIPBOARD_MESSAGE_BYTES, `${bytes(worst)} bytes`);
  assert.ok(decodeClipboard(worst).msg);
});

test('control characters other than tab, newline and carriage return are refused', () => {
  assert.equal(clipboardTextProblem('tab\tcrlf\r\nend'), null);
  for (const control of ['\u0000', '\u001b[2J', '\u009b31m', '\u007f', 'a\u000bb', '\f', '\u0085']) {
    assert.equal(clipboardTextProblem(control), 'control', JSON.stringify(control));
    assert.equal(encodeText(1, control), null);
    assert.deepEqual(decodeClipboard(JSON.stringify({ type: 'text', seq: 1, text: control })),
      { error: 'control' });
  }
  // Not control characters: a no-break space, a zero-width joiner, a BOM.
  assert.equal(clipboardTextProblem('\u00a0\u200d\ufeff'), null);
});

test('decoding refuses what the agent refuses; too large text is answerable by its seq', () => {
  const long = 'x'.repeat(30721);
  assert.deepEqual(decodeClipboard(JSON.stringify({ type: 'text', seq: 7, text: long })),
    { error: 'too_large', seq: 7 });
  assert.deepEqual(decodeClipboard(' '.repeat(MAX_CLIPBOARD_MESSAGE_BYTES + 1)), { error: 'message_too_large' });
  // Over the message limit in bytes, under it in UTF-16 units.
  assert.deepEqual(decodeClipboard(`"${'密'.repeat(22000)}"`), { error: 'message_too_large' });
  for (const bad of [
    '', 'null', '[]', '"text"', '{}', '{"type":1}',
    '{"type":"text","seq":-1,"text":"a"}',
    '{"type":"text","seq":1.5,"text":"a"}',
    '{"type":"text","seq":"1","text":"a"}',
    '{"type":"text","text":"a"}',
    '{"type":"text","seq":1}',
    '{"type":"text","seq":1,"text":7}',
    '{"type":"text","seq":1,"text":"a","extra":1}',
    '{"type":"applied","seq":1,"reason":"off"}',
    '{"type":"image","seq":1}',
    '{"type":"refused","seq":1}',
    '{"type":"refused","seq":1,"reason":"bored"}',
    '{"type":"__proto__","seq":1}',
    '{"type":"text","seq":1,"text":"\\ud800"}',
  ]) {
    assert.deepEqual(decodeClipboard(bad), { error: 'malformed' }, bad);
  }
  assert.deepEqual(decodeClipboard(new ArrayBuffer(4)), { error: 'malformed' }, 'binary frames');
  for (const reason of ['view_only', 'off', 'too_large', 'failed']) {
    assert.deepEqual(decodeClipboard(encodeRefused(3, reason)).msg, { type: 'refused', seq: 3, reason });
  }
});

test('lone surrogates go out as U+FFFD, which serde_json accepts', () => {
  const frame = encodeText(1, 'a\ud800b\udc00c');
  assert.equal(frame, '{"type":"text","seq":1,"text":"a\ufffdb\ufffdc"}');
  assert.equal(encodeText(1, '😀'), '{"type":"text","seq":1,"text":"😀"}', 'pairs stay');
});

test('refusals are explained in words', () => {
  assert.equal(REFUSAL_TEXT.view_only, 'the clipboard is off in a view-only session');
  assert.equal(REFUSAL_TEXT.off, 'the person turned the clipboard off');
  assert.equal(REFUSAL_TEXT.too_large, 'clipboard text over 30 KiB is not shared');
  assert.equal(REFUSAL_TEXT.failed, 'the computer could not reach its clipboard');
  assert.equal(NOTICE.refused('off'), 'The clipboard was not shared: the person turned the clipboard off.');
  assert.equal(NOTICE.readRefused,
    'The browser refused to read the clipboard: allow clipboard access for this page');
  assert.equal(NOTICE.copied(3), 'Copied from the computer (3 characters)');
});

// ---- Sending ----------------------------------------------------------------------------------

test('texts are numbered from 1 and resolve with the answer of their own seq', async () => {
  const s = sync();
  const first = s.sync.offer('one');
  const second = s.sync.offer('two');
  assert.deepEqual(s.sent, [
    { type: 'text', seq: 1, text: 'one' },
    { type: 'text', seq: 2, text: 'two' },
  ]);
  // Answers for other seqs do not settle them.
  s.from({ type: 'applied', seq: 9 });
  s.from({ type: 'refused', seq: 2, reason: 'failed' });
  s.from({ type: 'applied', seq: 1 });
  assert.deepEqual(await first, { outcome: 'applied', seq: 1 });
  assert.deepEqual(await second, { outcome: 'refused', seq: 2, reason: 'failed' });
  const st = s.sync.status;
  assert.deepEqual([st.sent, st.applied, st.refused, st.lastRefusal, st.dropped], [2, 1, 1, 'failed', 1]);
  assert.equal(st.lastSent, 'two');
  assert.deepEqual(st.answers, [
    { seq: 2, type: 'refused', reason: 'failed' },
    { seq: 1, type: 'applied' },
  ]);
  assert.deepEqual(s.events.map((e) => e.kind), ['answer', 'answer']);
  assert.deepEqual(s.notices, [{ text: 'The clipboard was not shared: the computer could not reach its clipboard.' }]);
  assert.equal(s.clock.timers.size, 0, 'no timers left');
});

test('no answer within 500 ms: the wait ends, and a late answer still counts', async () => {
  const s = sync();
  const offered = s.sync.offer('late');
  let result = null;
  offered.then((r) => { result = r; });
  s.clock.advance(ANSWER_TIMEOUT_MS - 1);
  await settle();
  assert.equal(result, null, 'still waiting at 499 ms');
  s.clock.advance(1);
  await settle();
  assert.deepEqual(result, { outcome: 'timeout', seq: 1 });
  assert.equal(s.sync.status.timeouts, 1);
  assert.deepEqual(s.notices, [{ text: NOTICE.noAnswer }]);
  s.from({ type: 'applied', seq: 1 });
  assert.equal(s.sync.status.applied, 1);
  assert.deepEqual(await s.sync.offer('late'), { outcome: 'same' }, 'the agent has it now');
});

test('no echo: what the agent sent or took is not sent back', async () => {
  const s = sync();
  // The agent's copy comes in and is written to the browser's clipboard...
  await s.sync.onMessage(JSON.stringify({ type: 'text', seq: 1, text: 'from the computer' }));
  assert.deepEqual(s.written, ['from the computer']);
  // ... so pasting it is no news for the agent.
  assert.deepEqual(await s.sync.offer('from the computer'), { outcome: 'same' });
  assert.deepEqual(s.sent, [{ type: 'applied', seq: 1 }]);
  // New text goes; once applied, the same text does not go again.
  const mine = s.sync.offer('mine');
  s.from({ type: 'applied', seq: 1 });
  assert.deepEqual(await mine, { outcome: 'applied', seq: 1 });
  assert.deepEqual(await s.sync.offer('mine'), { outcome: 'same' });
  // The agent's clipboard changes again: the text before is news again.
  await s.sync.onMessage(JSON.stringify({ type: 'text', seq: 2, text: 'theirs' }));
  s.sync.offer('mine');
  assert.deepEqual(s.sent.filter((m) => m.type === 'text'), [
    { type: 'text', seq: 1, text: 'mine' },
    { type: 'text', seq: 2, text: 'mine' },
  ]);
});

test('a refused text is offered again next time; the same text in flight is sent once', async () => {
  const s = sync();
  const a = s.sync.offer('x');
  const b = s.sync.offer('x');
  assert.equal(s.sent.length, 1, 'one message for both');
  s.from({ type: 'refused', seq: 1, reason: 'off' });
  assert.deepEqual(await a, { outcome: 'refused', seq: 1, reason: 'off' });
  assert.deepEqual(await b, { outcome: 'refused', seq: 1, reason: 'off' });
  assert.deepEqual(s.notices, [{ text: 'The clipboard was not shared: the person turned the clipboard off.' }]);
  s.sync.offer('x');
  assert.deepEqual(s.sent[1], { type: 'text', seq: 2, text: 'x' }, 'the person may turn it on again');
});

test('too large or control text is not sent, and the page says why', async () => {
  const s = sync();
  assert.deepEqual(await s.sync.offer('é'.repeat(15361)), { outcome: 'too_large' });
  assert.deepEqual(await s.sync.offer('bell\u0007'), { outcome: 'control' });
  assert.deepEqual(await s.sync.offer(''), { outcome: 'empty' });
  assert.deepEqual(s.sent, []);
  assert.equal(s.sync.seq, 0, 'nothing numbered');
  assert.deepEqual(s.notices, [{ text: NOTICE.tooLarge }, { text: NOTICE.control }]);
  assert.equal(NOTICE.tooLarge, 'Clipboard text over 30 KiB is not shared.');
});

test('view-only, learned from the refusal: nothing more goes on the channel', async () => {
  const s = sync();
  assert.deepEqual(s.changes, [true]);
  const first = s.sync.offer('secret');
  s.from({ type: 'refused', seq: 1, reason: 'view_only' });
  assert.deepEqual(await first, { outcome: 'refused', seq: 1, reason: 'view_only' });
  assert.equal(s.sync.status.viewOnly, true);
  assert.equal(s.sync.available, false);
  assert.deepEqual(s.changes, [true, false], 'the clipboard buttons go');
  assert.deepEqual(s.notices.at(-1),
    { text: 'The clipboard was not shared: the clipboard is off in a view-only session.' });
  assert.deepEqual(await s.sync.offer('more'), { outcome: 'unavailable' });
  assert.deepEqual(await s.sync.paste(async () => 'more'), { outcome: 'unavailable' });
  // A text from the agent (it sends none in view-only) is not answered either.
  await s.sync.onMessage(JSON.stringify({ type: 'text', seq: 1, text: 'x' }));
  s.from({ type: 'text', seq: 2, text: 'y'.repeat(30721) });
  assert.equal(s.sent.length, 1, 'only the first text went');
  assert.deepEqual(s.written, []);
});

test('the agent\'s off, said as the channel opens: nothing is ever offered', async () => {
  for (const reason of ['view_only', 'off']) {
    const s = sync();
    s.from({ type: 'off', reason });
    assert.equal(s.sync.status.off, reason);
    assert.equal(s.sync.status.viewOnly, reason === 'view_only');
    assert.equal(s.sync.available, false);
    assert.deepEqual(s.changes, [true, false], 'the clipboard buttons go');
    assert.deepEqual(await s.sync.offer('secret'), { outcome: 'unavailable' });
    assert.deepEqual(s.sent, [], 'not even the first paste goes');
  }
  for (const bad of [{ type: 'off' }, { type: 'off', reason: 'too_large' },
    { type: 'off', reason: 'off', seq: 1 }]) {
    assert.deepEqual(decodeClipboard(JSON.stringify(bad)), { error: 'malformed' });
  }
});

test('nothing is sent before the channel opens or after it closes', async () => {
  const s = sync({ open: false });
  assert.equal(s.sync.available, false);
  assert.deepEqual(await s.sync.offer('early'), { outcome: 'unavailable' });
  s.sync.opened();
  const pending = s.sync.offer('now');
  s.sync.close();
  assert.deepEqual(await pending, { outcome: 'unavailable' }, 'the wait ends with the channel');
  assert.deepEqual(await s.sync.offer('later'), { outcome: 'unavailable' });
  assert.deepEqual(s.sent, [{ type: 'text', seq: 1, text: 'now' }]);
  assert.deepEqual(s.changes, [true, false]);
  assert.equal(s.clock.timers.size, 0);
  // The channel refuses a send: not counted as sent.
  const t = sync();
  t.channelOpen = false;
  assert.deepEqual(await t.sync.offer('x'), { outcome: 'unavailable' });
  assert.equal(t.sync.status.sent, 0);
  t.channelOpen = true;
  t.sync.offer('x');
  assert.deepEqual(t.sent, [{ type: 'text', seq: 1, text: 'x' }], 'seq 1 is the first that went');
});

// ---- The paste path ---------------------------------------------------------------------------

test('paste: reads the browser clipboard, sends it and waits for the answer', async () => {
  const s = sync();
  const pasted = s.sync.paste(async () => 'ls -la\n');
  await settle();
  assert.deepEqual(s.sent, [{ type: 'text', seq: 1, text: 'ls -la\n' }]);
  s.from({ type: 'applied', seq: 1 });
  assert.deepEqual(await pasted, { outcome: 'applied', seq: 1 });
  assert.equal(s.clock.timers.size, 0);
  // The same again: nothing to wait for.
  assert.deepEqual(await s.sync.paste(async () => 'ls -la\n'), { outcome: 'same' });
});

test('paste: a refused read is said plainly, and the keys still go', async () => {
  const s = sync();
  const result = await s.sync.paste(async () => { throw new DOMException('Read permission denied.', 'NotAllowedError'); });
  assert.deepEqual(result, { outcome: 'read_refused' });
  assert.deepEqual(s.notices, [{ text: 'The browser refused to read the clipboard: allow clipboard access for this page' }]);
  assert.deepEqual(s.sent, []);
  // The caller's own reason (no clipboard API at all) is shown instead.
  await s.sync.paste(() => { throw Object.assign(new Error('x'), { notice: NOTICE.insecure }); });
  assert.deepEqual(s.notices.at(-1), { text: NOTICE.insecure });
});

test('paste: waits no longer than the read and answer limits', async () => {
  const s = sync();
  let result = null;
  s.sync.paste(() => new Promise(() => {})).then((r) => { result = r; });
  s.clock.advance(READ_TIMEOUT_MS + ANSWER_TIMEOUT_MS - 1);
  await settle();
  assert.equal(result, null);
  s.clock.advance(1);
  await settle();
  assert.deepEqual(result, { outcome: 'timeout' });
  // A read that answers late still sends its text (for the next paste).
  let release;
  s.sync.paste(() => new Promise((resolve) => { release = resolve; }));
  await settle();
  s.clock.advance(READ_TIMEOUT_MS + ANSWER_TIMEOUT_MS);
  release('slow');
  await settle();
  assert.deepEqual(s.sent, [{ type: 'text', seq: 1, text: 'slow' }]);
});

// ---- Receiving --------------------------------------------------------------------------------

test('the agent\'s text is put on the browser\'s clipboard and applied', async () => {
  const s = sync();
  await s.sync.onMessage(JSON.stringify({ type: 'text', seq: 4, text: 'grüße 😀' }));
  assert.deepEqual(s.written, ['grüße 😀']);
  assert.deepEqual(s.sent, [{ type: 'applied', seq: 4 }]);
  assert.deepEqual(s.notices, [{ text: 'Copied from the computer (7 characters)' }], 'characters, not UTF-16 units');
  assert.deepEqual(s.events, [{ kind: 'received', seq: 4, text: 'grüße 😀', written: true }]);
  const st = s.sync.status;
  assert.deepEqual([st.received, st.receivedCount, st.written], ['grüße 😀', 1, 'grüße 😀']);
});

test('a write the browser refuses is answered failed, with a Copy button', async () => {
  const s = sync({ writeFails: true });
  await s.sync.onMessage(JSON.stringify({ type: 'text', seq: 1, text: 'secret' }));
  assert.deepEqual(s.sent, [{ type: 'refused', seq: 1, reason: 'failed' }]);
  assert.deepEqual(s.notices, [{ text: 'The computer\'s clipboard changed:', copy: 'secret' }]);
  assert.equal(s.sync.status.written, null);
  assert.equal(s.sync.status.writeFailed, 1);
  assert.deepEqual(s.events, [{ kind: 'received', seq: 1, text: 'secret', written: false }]);
  // The click (a user gesture) writes it.
  s.writeFails = false;
  assert.equal(await s.sync.copy('secret'), true);
  assert.deepEqual(s.written, ['secret']);
  assert.equal(s.sync.status.written, 'secret');
  assert.deepEqual(s.notices.at(-1), { text: 'Copied from the computer (6 characters)' });
  assert.equal(s.sent.length, 1, 'the click sends nothing');
});

test('texts from the agent are written in order; too large ones are refused by seq', async () => {
  const s = sync();
  s.sync.onMessage(JSON.stringify({ type: 'text', seq: 1, text: 'a' }));
  await s.sync.onMessage(JSON.stringify({ type: 'text', seq: 2, text: 'b' }));
  assert.deepEqual(s.written, ['a', 'b']);
  s.from({ type: 'text', seq: 3, text: 'x'.repeat(30721) });
  s.sync.onMessage('{"type":"text","seq":4,"text":"\\u001b[2J"}');
  s.sync.onMessage('not json');
  assert.deepEqual(s.sent, [
    { type: 'applied', seq: 1 }, { type: 'applied', seq: 2 },
    { type: 'refused', seq: 3, reason: 'too_large' },
  ], 'control characters and garbage are dropped unanswered');
  assert.equal(s.sync.status.dropped, 2);
  assert.deepEqual(s.notices.at(-1), { text: NOTICE.receivedTooLarge });
});

test('status starts empty', () => {
  const st = newClipboardStatus();
  assert.deepEqual([st.available, st.viewOnly, st.sent, st.received, st.applied, st.refused],
    [false, false, 0, null, 0, 0]);
  assert.deepEqual(st.answers, []);
});

// ---- Type clipboard ---------------------------------------------------------------------------

test('typed text has \\n line breaks and no control characters the input channel refuses', () => {
  assert.equal(typeableText('a\r\nb\rc\nd\te'), 'a\nb\nc\nd\te');
  assert.equal(typeableText('x\u0000y\u001b[0m\u007fz\u0085\f'), 'xy[0mz');
  assert.equal(typeableText('a\ud800'), 'a\ufffd');
});

test('typed text goes in input messages of at most 4096 bytes, characters unsplit', () => {
  assert.deepEqual(textMessages('hello'), [{ type: 'text', text: 'hello' }]);
  assert.deepEqual(textMessages(''), []);
  for (const text of [
    'a'.repeat(10000),
    '密'.repeat(5000),
    '😀'.repeat(3000),
    '"\\\n\t'.repeat(2000),
    `${'a'.repeat(4070)}😀😀😀😀😀`,
    'é'.repeat(4095),
  ]) {
    const messages = textMessages(text);
    assert.ok(messages.length > 1, `${text.slice(0, 4)}… in pieces`);
    assert.equal(messages.map((m) => m.text).join(''), text, 'nothing lost or reordered');
    messages.forEach((m, i) => {
      const size = bytes(JSON.stringify(m));
      assert.ok(size <= MAX_INPUT_BYTES, `${size} bytes`);
      // Every piece but the last is as full as a character allows.
      if (i < messages.length - 1) assert.ok(size > MAX_INPUT_BYTES - 6, `pieces are full: ${size}`);
      assert.doesNotMatch(m.text, /^[\udc00-\udfff]|[\ud800-\udbff]$/, 'no pair split');
    });
  }
  // Exactly at the limit: one message.
  const fits = 'a'.repeat(MAX_INPUT_BYTES - utf8Length('{"type":"text","text":""}'));
  assert.equal(textMessages(fits).length, 1);
  assert.equal(textMessages(`${fits}b`).length, 2);
});

test('Type clipboard: reads, types in pieces, and says what it did', async () => {
  const sent = [];
  const typed = await typeClipboard(async () => 'pass\r\nword', (m) => sent.push(m));
  assert.deepEqual(typed, { outcome: 'typed', characters: 9, notice: 'Typed 9 characters on the computer.' });
  assert.deepEqual(sent, [{ type: 'text', text: 'pass\nword' }]);
  const long = await typeClipboard(async () => 'a'.repeat(30720), (m) => sent.push(m));
  assert.equal(long.outcome, 'typed');
  assert.equal(sent.length, 1 + 8);
  assert.deepEqual(await typeClipboard(async () => 'a'.repeat(30721), () => assert.fail('typed')),
    { outcome: 'too_large', notice: 'Clipboard text over 30 KiB is not typed.' });
  assert.deepEqual(await typeClipboard(async () => '\u0000', () => assert.fail('typed')),
    { outcome: 'empty', notice: NOTICE.typeEmpty });
  assert.deepEqual(await typeClipboard(async () => { throw new Error('denied'); }, () => assert.fail('typed')),
    { outcome: 'read_refused', notice: NOTICE.readRefused });
  assert.deepEqual(await typeClipboard(async () => 'x', () => false),
    { outcome: 'failed', notice: NOTICE.typeFailed });
});
