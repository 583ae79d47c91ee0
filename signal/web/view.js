// What the person sees: the join form and its message line, the session view with the state
// line, the video element, the statistics overlay and the notice line over the picture (the
// clipboard's news). The session (session.js) calls the methods marked "for the session"; the
// toolbar's own buttons are wired here (the chat panel is chatview.js).

import { formatStats } from './stats.js';

/** How long a notice stays; one with a Copy button stays until it is used or replaced. */
export const NOTICE_MS = 6000;

export class View {
  constructor(doc) {
    const $ = (id) => doc.getElementById(id);
    this.doc = doc;
    this.ui = {
      joinView: $('join-view'), sessionView: $('session-view'), form: $('join-form'),
      code: $('code'), name: $('name'), join: $('join'), message: $('message'), state: $('state'),
      video: $('video'), stats: $('stats'), toggleStats: $('toggle-stats'),
      toggleFullscreen: $('toggle-fullscreen'), unmute: $('unmute'), hangup: $('hangup'),
      typeClipboard: $('type-clipboard'), notice: $('notice'), noticeText: $('notice-text'),
      noticeCopy: $('notice-copy'), noticeClose: $('notice-close'),
    };
    this.noticeTimer = null;
    // What the notice's Copy button does (set with the notice).
    this.onCopy = null;
    this.ui.noticeCopy.addEventListener('click', () => {
      if (this.onCopy) this.onCopy();
    });
    this.ui.noticeClose.addEventListener('click', () => {
      this.hideNotice();
      this.ui.video.focus();
    });
    // The session's tracks, played by the one video element.
    this.stream = null;
  }

  /** The line under the join form; `info` for news, otherwise it is shown as a problem. */
  message(text, info) {
    this.ui.message.textContent = text;
    this.ui.message.className = info ? 'info' : '';
  }

  /** Connect was pressed: no second attempt until this one ends. */
  joining() {
    this.ui.join.disabled = true;
  }

  // ---- For the session ----------------------------------------------------------------------

  /** The toolbar's state line. */
  state(text, isError) {
    this.ui.state.textContent = text;
    this.ui.state.className = isError ? 'error' : '';
  }

  showSession() {
    this.ui.joinView.hidden = true;
    this.ui.sessionView.hidden = false;
  }

  /** Plays `track`; `onFirstFrame` once a video frame is shown. */
  showTrack(track, onFirstFrame) {
    const { video, unmute } = this.ui;
    // Video and audio come in separate streams (no lip-sync wait); one element plays both.
    if (!this.stream) this.stream = new MediaStream();
    this.stream.addTrack(track);
    if (video.srcObject !== this.stream) video.srcObject = this.stream;
    if (track.kind === 'video' && video.requestVideoFrameCallback) {
      video.requestVideoFrameCallback(() => onFirstFrame());
    }
    video.play().catch(() => {
      // No permission to play sound yet: play muted and offer a button.
      video.muted = true;
      unmute.hidden = false;
      video.play().catch(() => {});
    });
  }

  /** The picture takes the keyboard as soon as there is one. */
  connected() {
    this.ui.video.focus();
  }

  stats(stats) {
    if (!this.ui.stats.hidden) this.ui.stats.textContent = formatStats(stats);
  }

  /** Back to the join form, with how the session ended. */
  ended(text, isError) {
    const { ui, doc } = this;
    ui.video.srcObject = null;
    this.stream = null;
    ui.stats.hidden = true;
    this.hideNotice();
    this.clipboardAvailable(false);
    if (doc.fullscreenElement) doc.exitFullscreen().catch(() => {});
    ui.sessionView.hidden = true;
    ui.joinView.hidden = false;
    ui.join.disabled = false;
    this.message(text, !isError);
  }

  // ---- The clipboard ------------------------------------------------------------------------

  /**
   * A line over the picture, `{ text, copy? }`: with `copy`, a Copy button that calls
   * `onCopy(copy)` (a click is the user gesture the browser's clipboard wants).
   */
  notice({ text, copy }, onCopy) {
    const { ui, doc } = this;
    const win = doc.defaultView;
    ui.noticeText.textContent = text;
    ui.noticeCopy.hidden = copy === undefined;
    this.onCopy = copy === undefined ? null : () => onCopy(copy);
    ui.notice.hidden = false;
    if (this.noticeTimer !== null) win.clearTimeout(this.noticeTimer);
    this.noticeTimer = copy === undefined ? win.setTimeout(() => this.hideNotice(), NOTICE_MS) : null;
  }

  hideNotice() {
    const { ui, doc } = this;
    if (this.noticeTimer !== null) doc.defaultView.clearTimeout(this.noticeTimer);
    this.noticeTimer = null;
    this.onCopy = null;
    ui.notice.hidden = true;
  }

  /** Whether the clipboard is shared (its channel open, the session not view-only). */
  clipboardAvailable(available) {
    this.ui.typeClipboard.hidden = !available;
  }

  // ---- The toolbar --------------------------------------------------------------------------

  /** Wires Stats, Fullscreen and Sound on; `latestStats()` is the last sample, if any. */
  bindToolbar(latestStats) {
    const { ui, doc } = this;
    ui.unmute.addEventListener('click', () => {
      ui.video.muted = false;
      ui.unmute.hidden = true;
      ui.video.focus();
    });
    ui.toggleStats.addEventListener('click', () => {
      ui.stats.hidden = !ui.stats.hidden;
      const stats = latestStats();
      if (!ui.stats.hidden && stats) ui.stats.textContent = formatStats(stats);
      ui.video.focus();
    });
    ui.toggleFullscreen.addEventListener('click', () => {
      if (doc.fullscreenElement) doc.exitFullscreen().catch(() => {});
      else ui.sessionView.requestFullscreen().catch(() => {});
      ui.video.focus();
    });
  }
}
