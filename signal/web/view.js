// What the person sees: the join form and its message line, the session view with the state
// line, the video element and the statistics overlay. The session (session.js) calls the
// methods marked "for the session"; the toolbar's own buttons are wired here.

import { formatStats } from './stats.js';

export class View {
  constructor(doc) {
    const $ = (id) => doc.getElementById(id);
    this.doc = doc;
    this.ui = {
      joinView: $('join-view'), sessionView: $('session-view'), form: $('join-form'),
      code: $('code'), name: $('name'), join: $('join'), message: $('message'), state: $('state'),
      video: $('video'), stats: $('stats'), toggleStats: $('toggle-stats'),
      toggleFullscreen: $('toggle-fullscreen'), unmute: $('unmute'), hangup: $('hangup'),
    };
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
    if (doc.fullscreenElement) doc.exitFullscreen().catch(() => {});
    ui.sessionView.hidden = true;
    ui.joinView.hidden = false;
    ui.join.disabled = false;
    this.message(text, !isError);
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
