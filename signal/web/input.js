// Remote control: mouse, wheel and keyboard on the picture as messages of the `input` data
// channel (docs/protocol.md). The encoding functions are pure and exported on their own;
// `attachInput` is the DOM side, sending through whatever session `target()` returns.

// ---- Pure encoding --------------------------------------------------------------------------

/** Where the picture is inside an element showing it with `object-fit: contain`. */
export function contentRect(box, videoWidth, videoHeight) {
  if (!videoWidth || !videoHeight || !box.width || !box.height) return null;
  const scale = Math.min(box.width / videoWidth, box.height / videoHeight);
  const width = videoWidth * scale;
  const height = videoHeight * scale;
  return {
    left: box.left + (box.width - width) / 2,
    top: box.top + (box.height - height) / 2,
    width,
    height,
  };
}

const clamp01 = (v) => Math.min(1, Math.max(0, v));

/** A client position as 0..1 of the shared display, or null with no picture yet. */
export function normalisePointer(clientX, clientY, rect) {
  if (!rect) return null;
  return {
    x: clamp01((clientX - rect.left) / rect.width),
    y: clamp01((clientY - rect.top) / rect.height),
  };
}

/** WheelEvent deltas as notches: pixels / 100, lines as they are, pages as 3 lines. */
export function wheelNotches(deltaX, deltaY, deltaMode) {
  const per = deltaMode === 0 ? 0.01 : (deltaMode === 2 ? 3 : 1);
  const limit = (v) => Math.max(-100, Math.min(100, v * per));
  return { dx: limit(deltaX), dy: limit(deltaY) };
}

/**
 * What a pointer event at `at` (0..1, from normalisePointer) sends, in order: the position,
 * then for a press or release the button. `droppable`: only plain moves may be dropped when
 * the channel is backed up, never a position that a button acts at.
 */
export function pointerMessages(eventType, at, button) {
  const out = [{ msg: { type: 'pointer_move', x: at.x, y: at.y }, droppable: eventType === 'pointermove' }];
  if (eventType === 'pointerdown' || eventType === 'pointerup') {
    out.push({ msg: { type: 'pointer_button', button, down: eventType === 'pointerdown' }, droppable: false });
  }
  return out;
}

/** A `wheel` message, or null when the wheel did not turn. */
export function wheelMessage(deltaX, deltaY, deltaMode) {
  const { dx, dy } = wheelNotches(deltaX, deltaY, deltaMode);
  return dx !== 0 || dy !== 0 ? { type: 'wheel', dx, dy } : null;
}

/**
 * A `key` message for a keydown/keyup of KeyboardEvent.code `code`, or null for none: no
 * code, an auto-repeat or a key already down (the agent's X server repeats held keys itself),
 * or the release of a key that did not go down here (Escape closing the chat, say, released
 * once the picture has the focus back). `held` is the set of codes down; it is updated.
 */
export function keyMessage(eventType, code, repeat, held) {
  if (!code) return null;
  const down = eventType === 'keydown';
  if (down && (repeat || held.has(code))) return null;
  if (!down && !held.has(code)) return null;
  if (down) held.add(code);
  else held.delete(code);
  return { type: 'key', code, down };
}

export const releaseAll = () => ({ type: 'release_all' });

/**
 * Whether a keydown pastes on the computer: Ctrl+V or Meta+V (with or without Shift, as
 * terminals paste), or Shift+Insert. Its keys wait until the clipboard is across.
 */
export function isPasteKey(e) {
  if (e.type !== 'keydown' || e.repeat || e.altKey) return false;
  if (e.code === 'KeyV') return Boolean(e.ctrlKey || e.metaKey);
  return e.code === 'Insert' && Boolean(e.shiftKey) && !e.ctrlKey && !e.metaKey;
}

/** Most input messages held while a paste waits (beyond it, pointer moves are dropped). */
export const MAX_HELD_INPUT = 256;

/**
 * Input for a session, sent at once or, while `hold(session)` lasts, kept in order until
 * `release(current)` sends it to that session (or drops it when `current` is another one).
 * Pure: the session is anything with `sendInput(msg, droppable)`.
 */
export class InputGate {
  constructor() {
    this.session = null;
    this.queue = null;
  }

  get holding() {
    return this.queue !== null;
  }

  hold(session) {
    this.session = session;
    this.queue = [];
  }

  send(session, msg, droppable) {
    if (this.queue === null || session !== this.session) return session.sendInput(msg, droppable);
    if (droppable && this.queue.length >= MAX_HELD_INPUT) return false;
    this.queue.push([msg, droppable]);
    return true;
  }

  release(current) {
    const { queue, session } = this;
    this.queue = null;
    this.session = null;
    if (!queue || current !== session) return;
    for (const [msg, droppable] of queue) session.sendInput(msg, droppable);
  }
}

// ---- The DOM side ---------------------------------------------------------------------------

/**
 * Captures input on `video` for `target()` (the running session, or null): an object with
 * `sendInput(msg, droppable)`. Every key goes to the computer, none to the page (the toolbar
 * has the page's own buttons); losing focus lets go of everything. Only events on the video
 * itself count: keys typed in the chat, say, are the page's.
 *
 * `onPaste(session)`, when given, is asked on a paste key (isPasteKey): it returns null, or a
 * promise that settles once the clipboard is across; the paste key and everything after it
 * wait for it (InputGate), so the application there pastes the new text.
 */
export function attachInput(video, target, win, { onPaste = () => null } = {}) {
  const gate = new InputGate();
  // The keys down, for the session they went down in.
  const held = new Set();
  let heldFor = null;
  const keysOf = (session) => {
    if (session !== heldFor) {
      held.clear();
      heldFor = session;
    }
    return held;
  };

  function onPointer(e) {
    const session = target();
    if (!session) return;
    const rect = contentRect(video.getBoundingClientRect(), video.videoWidth, video.videoHeight);
    const at = normalisePointer(e.clientX, e.clientY, rect);
    if (!at) return;
    const messages = pointerMessages(e.type, at, e.button);
    gate.send(session, messages[0].msg, messages[0].droppable);
    if (messages.length > 1) {
      e.preventDefault();
      if (e.type === 'pointerdown') {
        video.focus();
        video.setPointerCapture(e.pointerId);
      }
      gate.send(session, messages[1].msg, messages[1].droppable);
    }
  }

  function onKey(e) {
    const session = target();
    if (!session || !e.code || e.target !== video) return;
    e.preventDefault();
    const msg = keyMessage(e.type, e.code, e.repeat, keysOf(session));
    if (!msg) return;
    if (!gate.holding && isPasteKey(e)) {
      const pasted = onPaste(session);
      if (pasted) {
        gate.hold(session);
        Promise.resolve(pasted).catch(() => {}).then(() => gate.release(target()));
      }
    }
    gate.send(session, msg);
  }

  function letGo() {
    const session = target();
    if (!session) return;
    keysOf(session).clear();
    gate.send(session, releaseAll());
  }

  video.addEventListener('pointermove', onPointer);
  video.addEventListener('pointerdown', onPointer);
  video.addEventListener('pointerup', onPointer);
  video.addEventListener('contextmenu', (e) => e.preventDefault());
  video.addEventListener('wheel', (e) => {
    e.preventDefault();
    const session = target();
    if (!session) return;
    const msg = wheelMessage(e.deltaX, e.deltaY, e.deltaMode);
    if (msg) gate.send(session, msg);
  }, { passive: false });
  video.addEventListener('keydown', onKey);
  video.addEventListener('keyup', onKey);
  video.addEventListener('blur', letGo);
  win.addEventListener('blur', letGo);
}
