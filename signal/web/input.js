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
 * code, an auto-repeat or a key already down (the agent's X server repeats held keys itself).
 * `held` is the set of codes down; it is updated.
 */
export function keyMessage(eventType, code, repeat, held) {
  if (!code) return null;
  const down = eventType === 'keydown';
  if (down && (repeat || held.has(code))) return null;
  if (down) held.add(code);
  else held.delete(code);
  return { type: 'key', code, down };
}

export const releaseAll = () => ({ type: 'release_all' });

// ---- The DOM side ---------------------------------------------------------------------------

/**
 * Captures input on `video` for `target()` (the running session, or null): an object with
 * `sendInput(msg, droppable)`. Every key goes to the computer, none to the page (the toolbar
 * has the page's own buttons); losing focus lets go of everything.
 */
export function attachInput(video, target, win) {
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
    session.sendInput(messages[0].msg, messages[0].droppable);
    if (messages.length > 1) {
      e.preventDefault();
      if (e.type === 'pointerdown') {
        video.focus();
        video.setPointerCapture(e.pointerId);
      }
      session.sendInput(messages[1].msg, messages[1].droppable);
    }
  }

  function onKey(e) {
    const session = target();
    if (!session || !e.code) return;
    e.preventDefault();
    const msg = keyMessage(e.type, e.code, e.repeat, keysOf(session));
    if (msg) session.sendInput(msg);
  }

  function letGo() {
    const session = target();
    if (!session) return;
    keysOf(session).clear();
    session.sendInput(releaseAll());
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
    if (msg) session.sendInput(msg);
  }, { passive: false });
  video.addEventListener('keydown', onKey);
  video.addEventListener('keyup', onKey);
  video.addEventListener('blur', letGo);
  win.addEventListener('blur', letGo);
}
