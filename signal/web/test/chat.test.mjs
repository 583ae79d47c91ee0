// The chat channel (chat.js) against docs/protocol.md and proto/src/chat.rs: trimming, the
// limits and control characters both ways, the bounded log with its unread count, and Chat.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import {
  CHAT_PROBLEM_TEXT, Chat, ChatLog, MAX_CHAT_MESSAGE_BYTES, MAX_CHAT_TEXT_BYTES, MAX_LOG_ENTRIES,
  WHO, chatText, chatTextProblem, decodeChat, encodeChat,
} from '../chat.js';
import { trimWhiteSpace } from '../text.js';

test('the wire form is the documented one, trimmed', () => {
  assert.deepEqual(encodeChat('  I\'m restarting the printer service now \n'), {
    frame: '{"type":"message","text":"I\'m restarting the printer service now"}',
    text: 'I\'m restarting the printer service now',
  });
  const { frame } = encodeChat('two\nlines');
  assert.deepEqual(decodeChat(frame), { msg: { type: 'message', text: 'two\nlines' } });
});

test('text is 1 to 2000 bytes of UTF-8 after trimming', () => {
  assert.equal(MAX_CHAT_TEXT_BYTES, 2000);
  assert.equal(encodeChat('x'.repeat(2000)).text.length, 2000);
  assert.deepEqual(encodeChat('x'.repeat(2001)), { error: 'too_large' });
  assert.ok(encodeChat(`   ${'x'.repeat(2000)}   `).frame, 'white space around does not count');
  // Bytes, not characters: 'é' is 2, '😀' 4.
  assert.ok(encodeChat('é'.repeat(1000)).frame);
  assert.deepEqual(encodeChat('é'.repeat(1001)), { error: 'too_large' });
  assert.ok(encodeChat('😀'.repeat(500)).frame);
  assert.deepEqual(encodeChat(`${'😀'.repeat(500)}!`), { error: 'too_large' });
  for (const blank of ['', '   ', ' \n \n ', '\u3000\u00a0']) {
    assert.deepEqual(encodeChat(blank), { error: 'empty' }, JSON.stringify(blank));
  }
});

test('no control characters but newline; typed line breaks and tabs are tidied first', () => {
  for (const bad of ['\u001b[2J', 'a\u0000b', 'a\u0085b', 'a\u007fb', 'a\u000bb']) {
    assert.deepEqual(encodeChat(bad), { error: 'control' }, JSON.stringify(bad));
    assert.equal(chatTextProblem(bad), 'control');
  }
  assert.equal(chatText('a\r\nb\rc\td'), 'a\nb\nc d');
  assert.equal(chatText('x\ud800'), 'x\ufffd', 'no lone surrogates on the wire');
  // What arrives is judged as the agent judges it: \r and \t are control characters there.
  assert.deepEqual(decodeChat('{"type":"message","text":"a\\rb"}'), { error: 'control' });
  assert.deepEqual(decodeChat('{"type":"message","text":"a\\tb"}'), { error: 'control' });
});

test('trimming is Rust\'s: Unicode White_Space, not JavaScript\'s', () => {
  assert.equal(trimWhiteSpace(' \t\n\u3000a b\u2029\u00a0'), 'a b');
  assert.equal(trimWhiteSpace('\ufeffa\ufeff'), '\ufeffa\ufeff', 'a BOM is no white space');
  assert.equal(trimWhiteSpace('\u0085a'), 'a', 'NEL is');
});

test('frames from the agent are validated; bad ones dropped', () => {
  assert.deepEqual(decodeChat('{"type":"message","text":"hello"}'), { msg: { type: 'message', text: 'hello' } });
  assert.deepEqual(decodeChat(' '.repeat(MAX_CHAT_MESSAGE_BYTES + 1)), { error: 'too_large' });
  assert.deepEqual(decodeChat(`"${'密'.repeat(3000)}"`), { error: 'too_large' }, 'in bytes');
  assert.deepEqual(decodeChat(JSON.stringify({ type: 'message', text: 'x'.repeat(2001) })), { error: 'too_large' });
  assert.deepEqual(decodeChat('{"type":"message","text":"  "}'), { error: 'empty' });
  for (const bad of ['', '{}', '[]', 'null', '{"type":"message"}', '{"type":"message","text":1}',
    '{"type":"note","text":"a"}', '{"type":"message","text":"a","from":"x"}',
    '{"type":"message","text":"\\udc00"}']) {
    assert.deepEqual(decodeChat(bad), { error: 'malformed' }, bad);
  }
  assert.deepEqual(decodeChat(new Uint8Array(3)), { error: 'malformed' });
});

test('the log keeps the last 500 entries and counts unread computer messages', () => {
  assert.equal(MAX_LOG_ENTRIES, 500);
  const log = new ChatLog();
  const entries = log.entries;
  for (let i = 0; i < 502; i += 1) log.add(i % 2 ? 'computer' : 'you', `m${i}`, 1000 + i);
  assert.equal(log.entries.length, 500);
  assert.equal(log.entries, entries, 'the same array (window.tether.chat)');
  assert.deepEqual(log.entries[0], { from: 'you', text: 'm2', time: 1002 });
  assert.deepEqual(log.entries.at(-1), { from: 'computer', text: 'm501', time: 1501 });
  assert.equal(log.unread, 251, 'only the computer\'s');
  log.show(true);
  assert.equal(log.unread, 0);
  log.add('computer', 'seen', 2000);
  assert.equal(log.unread, 0, 'shown: read');
  log.show(false);
  log.add('computer', 'new', 2001);
  assert.equal(log.unread, 1);
  log.clear();
  assert.deepEqual([log.entries.length, log.unread, log.entries === entries], [0, 0, true]);
  const small = new ChatLog(2);
  ['a', 'b', 'c'].forEach((t) => small.add('you', t, 0));
  assert.deepEqual(small.entries.map((e) => e.text), ['b', 'c']);
});

test('Chat sends and receives through its channel, logging both sides', () => {
  const frames = [];
  const added = [];
  let t = 5000;
  const log = new ChatLog();
  const chat = new Chat({ log, now: () => t, onEntry: (e) => added.push(e) });
  assert.deepEqual(chat.send('hi'), { error: 'closed' }, 'no channel yet');
  chat.attach((frame) => { frames.push(JSON.parse(frame)); return true; });
  assert.deepEqual(chat.send('  Hello, can you see my screen?  '),
    { entry: { from: 'you', text: 'Hello, can you see my screen?', time: 5000 } });
  assert.deepEqual(frames, [{ type: 'message', text: 'Hello, can you see my screen?' }]);
  assert.deepEqual(chat.send(' '), { error: 'empty' });
  assert.deepEqual(chat.send('x'.repeat(2001)), { error: 'too_large' });
  t = 6000;
  assert.deepEqual(chat.onMessage('{"type":"message","text":"Yes, go ahead"}'),
    { from: 'computer', text: 'Yes, go ahead', time: 6000 });
  assert.equal(chat.onMessage('{"type":"message","text":"\\u001b[31m"}'), null);
  assert.equal(chat.dropped, 1);
  assert.deepEqual(log.entries.map((e) => [e.from, e.text]),
    [['you', 'Hello, can you see my screen?'], ['computer', 'Yes, go ahead']]);
  assert.deepEqual(added, log.entries);
  assert.equal(frames.length, 1, 'refused text never went');
  // A channel that closed under it.
  chat.attach(() => false);
  assert.deepEqual(chat.send('gone?'), { error: 'closed' });
  chat.detach();
  assert.equal(chat.connected, false);
  assert.equal(log.entries.length, 2, 'unsent messages are not logged');
});

test('who is who, and why a message was not sent, in words', () => {
  assert.deepEqual(WHO, { you: 'You', computer: 'Computer' });
  for (const error of ['empty', 'too_large', 'control', 'closed']) {
    assert.equal(typeof CHAT_PROBLEM_TEXT[error], 'string', error);
  }
});
