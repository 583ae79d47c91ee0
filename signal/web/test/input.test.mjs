// The input encoding (input.js) against docs/protocol.md's `input` channel.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import {
  contentRect, keyMessage, normalisePointer, pointerMessages, releaseAll, wheelMessage,
  wheelNotches,
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
  assert.deepEqual(releaseAll(), { type: 'release_all' });
});
