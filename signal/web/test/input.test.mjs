// The input encoding (input.js) against docs/protocol.md's `input` channel.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import {
  InputGate, MAX_HELD_INPUT, contentRect, isPasteKey, keyMessage, normalisePointer,
  pointerMessages, releaseAll, wheelMessage, wheelNotches,
} from '../input.js';

const box = (left, top, width, height) => ({ left, top, width, height });

test('the picture rectangle takes out object-fit: contain letterboxing', () => {
  // 1280x720 in a 1000x720 element: bars above and below.
  assert.deepEqual(contentRect(box(0, 44, 1000, 720), 1280, 720),
    { left: 0, top: 44 + (720 - 562.5) / 2, width: 1000, height: 562.5 });
  // 1280x720 in a 1600x720 element: bars left and right.
  assert.deepEqual(contentRect(box(10, 0, 1600, 720), 1280, 720),
    { left: 10 + 160, top: 0, width: 1280, height: 720 });
  assert.equal(contentRect(box(0, 0, 1000, 720), 0, 0), null, 'no picture yet');
  assert.equal(contentRect(box(0, 0, 0, 0), 1280, 720), null, 'not laid out');
});

test('pointer positions are 0..1 of the picture, clamped at its edges', () => {
  const rect = contentRect(box(0, 44, 1000, 720), 1280, 720);
  const top = rect.top;
  assert.deepEqual(normalisePointer(250, top + 0.75 * 562.5, rect), { x: 0.25, y: 0.75 });
  assert.deepEqual(normalisePointer(500, top + 281.25, rect), { x: 0.5, y: 0.5 });
  assert.deepEqual(normalisePointer(-5, 44, rect), { x: 0, y: 0 }, 'on the bar above');
  assert.deepEqual(normalisePointer(2000, 2000, rect), { x: 1, y: 1 });
  assert.equal(normalisePointer(1, 1, null), null);
});

test('pointer events: the position first, then the button; only moves are droppable', () => {
  const at = { x: 0.25, y: 0.75 };
  assert.deepEqual(pointerMessages('pointermove', at, 0),
    [{ msg: { type: 'pointer_move', x: 0.25, y: 0.75 }, droppable: true }]);
  assert.deepEqual(pointerMessages('pointerdown', at, 2), [
    { msg: { type: 'pointer_move', x: 0.25, y: 0.75 }, droppable: false },
    { msg: { type: 'pointer_button', button: 2, down: true }, droppable: false },
  ]);
  assert.deepEqual(pointerMessages('pointerup', at, 0)[1],
    { msg: { type: 'pointer_button', button: 0, down: false }, droppable: false });
});

test('the wheel in notches: pixels / 100, lines as they are, pages as 3, at most 100', () => {
  assert.deepEqual(wheelNotches(0, 300, 0), { dx: 0, dy: 3 });
  assert.deepEqual(wheelNotches(-50, 0, 0), { dx: -0.5, dy: 0 });
  assert.deepEqual(wheelNotches(0, 2, 1), { dx: 0, dy: 2 });
  assert.deepEqual(wheelNotches(1, -1, 2), { dx: 3, dy: -3 });
  assert.deepEqual(wheelNotches(0, 1e6, 0), { dx: 0, dy: 100 });
  assert.deepEqual(wheelNotches(0, -1e6, 1), { dx: 0, dy: -100 });
  assert.deepEqual(wheelMessage(0, 300, 0), { type: 'wheel', dx: 0, dy: 3 });
  assert.equal(wheelMessage(0, 0, 0), null, 'nothing turned, nothing sent');
});

test('keys: KeyboardEvent.code down and up, no repeats, no second down', () => {
  const held = new Set();
  assert.deepEqual(keyMessage('keydown', 'ShiftLeft', false, held),
    { type: 'key', code: 'ShiftLeft', down: true });
  assert.deepEqual(keyMessage('keydown', 'Enter', false, held),
    { type: 'key', code: 'Enter', down: true });
  assert.equal(keyMessage('keydown', 'Enter', true, held), null, 'auto-repeat');
  assert.equal(keyMessage('keydown', 'ShiftLeft', false, held), null, 'already down');
  assert.deepEqual([...held].sort(), ['Enter', 'ShiftLeft']);
  assert.deepEqual(keyMessage('keyup', 'Enter', false, held),
    { type: 'key', code: 'Enter', down: false });
  assert.deepEqual([...held], ['ShiftLeft']);
  assert.deepEqual(keyMessage('keydown', 'Enter', false, held),
    { type: 'key', code: 'Enter', down: true }, 'down again after up');
  assert.equal(keyMessage('keydown', '', false, held), null, 'no code (an IME, say)');
  assert.equal(keyMessage('keyup', 'Escape', false, held), null, 'went down elsewhere: not sent');
  assert.deepEqual([...held].sort(), ['Enter', 'ShiftLeft']);
  assert.deepEqual(releaseAll(), { type: 'release_all' });
});

test('paste keys: Ctrl+V, Meta+V (Shift too, as terminals paste) and Shift+Insert', () => {
  const key = (code, mods = {}, type = 'keydown') => ({ type, code, repeat: false, ctrlKey: false,
    metaKey: false, shiftKey: false, altKey: false, ...mods });
  assert.ok(isPasteKey(key('KeyV', { ctrlKey: true })));
  assert.ok(isPasteKey(key('KeyV', { metaKey: true })));
  assert.ok(isPasteKey(key('KeyV', { ctrlKey: true, shiftKey: true })));
  assert.ok(isPasteKey(key('Insert', { shiftKey: true })));
  assert.ok(!isPasteKey(key('KeyV')), 'a plain v');
  assert.ok(!isPasteKey(key('KeyV', { ctrlKey: true }, 'keyup')), 'only the press');
  assert.ok(!isPasteKey(key('KeyV', { ctrlKey: true, repeat: true })), 'not a repeat');
  assert.ok(!isPasteKey(key('KeyV', { ctrlKey: true, altKey: true })), 'Ctrl+Alt+V is another');
  assert.ok(!isPasteKey(key('KeyC', { ctrlKey: true })));
  assert.ok(!isPasteKey(key('Insert')));
  assert.ok(!isPasteKey(key('Insert', { ctrlKey: true, shiftKey: true })));
});

test('a held paste keeps every later input in order, then sends it to its session', () => {
  const sent = [];
  const session = { sendInput: (msg, droppable) => { sent.push([msg.type, msg.code || '', Boolean(droppable)]); return true; } };
  const gate = new InputGate();
  gate.send(session, { type: 'key', code: 'ControlLeft', down: true });
  gate.hold(session);
  assert.ok(gate.holding);
  gate.send(session, { type: 'key', code: 'KeyV', down: true });
  gate.send(session, { type: 'pointer_move', x: 0.5, y: 0.5 }, true);
  gate.send(session, { type: 'key', code: 'KeyV', down: false });
  gate.send(session, releaseAll());
  assert.deepEqual(sent, [['key', 'ControlLeft', false]], 'nothing after the paste key yet');
  gate.release(session);
  assert.ok(!gate.holding);
  assert.deepEqual(sent, [
    ['key', 'ControlLeft', false], ['key', 'KeyV', false], ['pointer_move', '', true],
    ['key', 'KeyV', false], ['release_all', '', false],
  ]);
  gate.send(session, { type: 'key', code: 'KeyA', down: true });
  assert.equal(sent.length, 6, 'straight through again');
});

test('a held paste whose session ended is dropped; held pointer moves are bounded', () => {
  const sent = [];
  const old = { sendInput: (msg) => sent.push(['old', msg.type]) };
  const next = { sendInput: (msg) => sent.push(['next', msg.type]) };
  const gate = new InputGate();
  gate.hold(old);
  gate.send(old, { type: 'key', code: 'KeyV', down: true });
  gate.send(next, { type: 'key', code: 'KeyA', down: true });
  assert.deepEqual(sent, [['next', 'key']], 'another session is not held');
  gate.release(next);
  assert.deepEqual(sent, [['next', 'key']], 'the old session\'s keys are gone');
  gate.hold(old);
  for (let i = 0; i < MAX_HELD_INPUT + 10; i += 1) gate.send(old, { type: 'pointer_move', x: 0, y: 0 }, true);
  gate.send(old, { type: 'key', code: 'KeyV', down: false });
  gate.release(old);
  assert.equal(sent.filter(([who]) => who === 'old').length, MAX_HELD_INPUT + 1, 'moves dropped, not keys');
  assert.deepEqual(sent.at(-1), ['old', 'key']);
});
