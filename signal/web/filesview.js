// The files panel (the DOM side of files.js): the toolbar's Send file button with its file
// picker, files dropped on the picture, and the list of transfers both ways with their
// progress, state in words, Cancel buttons and, for files from the computer, download links.
// Progress is drawn at most every PROGRESS_MS; state changes at once.

import { RUNNING, formatBytes, percent, stateText } from './files.js';

export const PROGRESS_MS = 200;

const DIRECTION = {
  send: { arrow: '↑', text: 'To the computer' },
  receive: { arrow: '↓', text: 'From the computer' },
};

export class FilesView {
  /**
   * `transfers` is the FileTransfers shown; `notify(text)` shows a line over the picture;
   * `video` gets the keyboard back after the picker and the panel.
   */
  constructor(doc, transfers, { notify = () => {}, video }) {
    const $ = (id) => doc.getElementById(id);
    this.doc = doc;
    this.transfers = transfers;
    this.video = video;
    this.notify = notify;
    this.ui = {
      send: $('send-file'), input: $('file-input'), toggle: $('toggle-files'),
      count: $('files-count'), panel: $('files-panel'), list: $('files-list'),
      hint: $('files-hint'), stage: $('stage'),
    };
    /** id -> the list item's parts */
    this.items = new Map();
    this.dirty = new Set();
    this.timer = null;
    const { ui } = this;
    ui.send.addEventListener('click', () => ui.input.click());
    ui.input.addEventListener('change', () => {
      const picked = [...ui.input.files];
      // Cleared, so that the same file can be picked again.
      ui.input.value = '';
      this.sendAll(picked);
      video.focus();
    });
    ui.toggle.addEventListener('click', () => this.show(ui.panel.hidden));
    this.bindDrop(doc.defaultView);
  }

  sendAll(files) {
    for (const file of files) this.transfers.sendFile(file);
  }

  /**
   * Files dropped on the picture go to the computer. Dropped anywhere else on the page they
   * are refused: never opened by the browser in place of the session.
   */
  bindDrop(win) {
    const { stage } = this.ui;
    const carriesFiles = (e) => e.dataTransfer && [...e.dataTransfer.types].includes('Files');
    const onStage = (e) => stage.contains(e.target);
    const over = (e) => {
      if (!carriesFiles(e)) return;
      e.preventDefault();
      const take = onStage(e) && this.transfers.available;
      e.dataTransfer.dropEffect = take ? 'copy' : 'none';
      stage.classList.toggle('dropping', take);
    };
    win.addEventListener('dragenter', over);
    win.addEventListener('dragover', over);
    win.addEventListener('dragleave', (e) => {
      if (!e.relatedTarget || !stage.contains(e.relatedTarget)) stage.classList.remove('dropping');
    });
    win.addEventListener('drop', (e) => {
      if (!carriesFiles(e)) return;
      e.preventDefault();
      stage.classList.remove('dropping');
      if (!onStage(e)) return;
      if (!this.transfers.available) {
        this.notify(this.whyNot());
        return;
      }
      this.sendAll([...e.dataTransfer.files]);
      this.video.focus();
    });
  }

  /** Why no file can be sent now, for people. */
  whyNot() {
    const { state } = this.transfers;
    if (state.viewOnly) return 'No files can be sent in a view-only session.';
    if (state.off) return 'The computer takes no files: file transfer is turned off there.';
    return 'The computer offers no file transfer.';
  }

  /** Opens or closes the panel. */
  show(shown) {
    const { ui } = this;
    ui.panel.hidden = !shown;
    ui.toggle.setAttribute('aria-expanded', String(shown));
    if (!shown) this.video.focus();
  }

  /** Whether files may be sent (the channel open, the session not view-only). */
  available(yes) {
    const { ui } = this;
    ui.send.hidden = !yes;
    ui.hint.hidden = !yes;
    this.toolbar();
  }

  /** The Files button: usable once there is a channel or a transfer; the running count. */
  toolbar() {
    const { ui, transfers } = this;
    const running = transfers.list.filter((t) => RUNNING.has(t.state)).length;
    ui.toggle.disabled = !transfers.state.open && transfers.list.length === 0;
    ui.count.hidden = running === 0;
    ui.count.textContent = running > 0 ? String(running) : '';
    ui.toggle.setAttribute('aria-label', running > 0 ? `Files, ${running} running` : 'Files');
  }

  /** A record changed (files.js onChange); progress alone is drawn a little later. */
  changed(t, progress) {
    if (!this.items.has(t.id)) {
      this.add(t);
      return;
    }
    if (!progress) {
      this.dirty.delete(t.id);
      this.render(t);
      this.toolbar();
      return;
    }
    this.dirty.add(t.id);
    if (this.timer !== null) return;
    const win = this.doc.defaultView;
    this.timer = win.setTimeout(() => {
      this.timer = null;
      for (const id of this.dirty) {
        const item = this.items.get(id);
        if (item) this.render(item.t);
      }
      this.dirty.clear();
    }, PROGRESS_MS);
  }

  add(t) {
    const { doc, ui } = this;
    const el = (tag, className) => {
      const e = doc.createElement(tag);
      if (className) e.className = className;
      return e;
    };
    const item = { t, li: el('li', t.direction) };
    item.li.dataset.fileId = t.id;
    const head = el('div', 'head');
    const dir = el('span', 'dir');
    dir.textContent = DIRECTION[t.direction].arrow;
    dir.title = DIRECTION[t.direction].text;
    item.name = el('span', 'name');
    item.size = el('span', 'size');
    head.append(dir, ' ', item.name, ' ', item.size);
    item.bar = el('progress');
    item.bar.max = 100;
    const foot = el('div', 'foot');
    item.state = el('span', 'state');
    item.cancel = el('button', 'cancel');
    item.cancel.type = 'button';
    item.cancel.textContent = 'Cancel';
    item.cancel.addEventListener('click', () => {
      this.transfers.cancel(t.id);
      this.video.focus();
    });
    item.link = el('a', 'download');
    item.link.textContent = 'Download';
    item.link.hidden = true;
    foot.append(item.state, item.cancel, item.link);
    item.li.append(head, item.bar, foot);
    this.items.set(t.id, item);
    ui.list.append(item.li);
    item.li.scrollIntoView({ block: 'nearest' });
    this.render(t);
    this.toolbar();
    // A new transfer either way: the panel shows it (the keyboard stays with the picture).
    if (ui.panel.hidden) {
      ui.panel.hidden = false;
      ui.toggle.setAttribute('aria-expanded', 'true');
    }
  }

  render(t) {
    const item = this.items.get(t.id);
    if (!item) return;
    const shownName = t.direction === 'receive' ? t.savedAs : t.name;
    item.name.textContent = shownName;
    item.name.title = shownName;
    item.size.textContent = formatBytes(t.size);
    item.li.className = `${t.direction} ${t.state}`;
    const running = RUNNING.has(t.state);
    item.bar.hidden = !(running || t.state === 'saved');
    item.bar.value = t.state === 'saved' ? 100 : percent(t.bytes, t.size);
    item.state.textContent = stateText(t);
    item.cancel.hidden = !running;
    if (t.url && item.link.hidden) {
      item.link.href = t.url;
      item.link.download = t.savedAs;
      item.link.title = `Save “${t.savedAs}” (${formatBytes(t.size)})`;
      item.link.hidden = false;
    }
  }

  /** A new session: an empty list, the panel closed. */
  clear() {
    const { ui, doc } = this;
    if (this.timer !== null) doc.defaultView.clearTimeout(this.timer);
    this.timer = null;
    this.dirty.clear();
    this.items.clear();
    ui.list.replaceChildren();
    ui.panel.hidden = true;
    ui.toggle.setAttribute('aria-expanded', 'false');
    ui.stage.classList.remove('dropping');
    this.available(false);
  }
}
