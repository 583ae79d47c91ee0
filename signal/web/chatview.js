// The chat panel (the DOM side of chat.js): the toolbar's Chat button with its unread count,
// the log, the text field and Send. Keys typed in the field stay on the page: input.js takes
// only the video's.

import { CHAT_PROBLEM_TEXT, WHO } from './chat.js';

/** `14:05` for an entry's time, in the browser's locale. */
const clockTime = (ms) => new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });

export class ChatView {
  /**
   * `log` is the ChatLog shown; `send(text)` sends what was typed and returns `{ error }` when
   * it was not sent; `video` gets the keyboard back when the panel closes.
   */
  constructor(doc, log, { send, video }) {
    const $ = (id) => doc.getElementById(id);
    this.doc = doc;
    this.log = log;
    this.video = video;
    this.ui = {
      toggle: $('toggle-chat'), unread: $('chat-unread'), panel: $('chat-panel'),
      list: $('chat-log'), form: $('chat-form'), text: $('chat-text'), problem: $('chat-problem'),
    };
    const { ui } = this;
    ui.toggle.addEventListener('click', () => this.show(ui.panel.hidden));
    ui.form.addEventListener('submit', (e) => {
      e.preventDefault();
      const sent = send(ui.text.value);
      if (sent.error) {
        this.problem(CHAT_PROBLEM_TEXT[sent.error] || sent.error);
      } else {
        ui.text.value = '';
        this.problem('');
      }
      ui.text.focus();
    });
    ui.text.addEventListener('input', () => this.problem(''));
    ui.text.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') {
        e.preventDefault();
        this.show(false);
      }
    });
  }

  /** Opens (with the keyboard in the text field) or closes the panel. */
  show(shown) {
    const { ui, log } = this;
    ui.panel.hidden = !shown;
    ui.toggle.setAttribute('aria-expanded', String(shown));
    log.show(shown);
    this.unread();
    if (shown) {
      ui.list.scrollTop = ui.list.scrollHeight;
      ui.text.focus();
    } else {
      this.video.focus();
    }
  }

  /** Whether the agent's chat channel is open. */
  available(open) {
    this.ui.toggle.disabled = !open;
    this.ui.toggle.title = open ? 'Chat with the person' : 'The computer offers no chat';
  }

  /** One more message (the log has it already). */
  add(entry) {
    const { ui, doc, log } = this;
    const item = doc.createElement('li');
    item.className = entry.from;
    const who = doc.createElement('span');
    who.className = 'who';
    who.textContent = WHO[entry.from] || entry.from;
    const time = doc.createElement('time');
    time.dateTime = new Date(entry.time).toISOString();
    time.textContent = clockTime(entry.time);
    const text = doc.createElement('p');
    text.textContent = entry.text;
    item.append(who, ' ', time, text);
    const atBottom = ui.list.scrollHeight - ui.list.scrollTop - ui.list.clientHeight < 8;
    ui.list.append(item);
    // As many items as the log keeps entries.
    while (ui.list.childElementCount > log.entries.length) ui.list.firstElementChild.remove();
    if (atBottom || entry.from === 'you') ui.list.scrollTop = ui.list.scrollHeight;
    this.unread();
  }

  /** The count on the Chat button. */
  unread() {
    const n = this.log.unread;
    this.ui.unread.hidden = n === 0;
    this.ui.unread.textContent = n > 0 ? String(n) : '';
    this.ui.toggle.setAttribute('aria-label', n > 0 ? `Chat, ${n} unread` : 'Chat');
  }

  /** The line under the field: why a message was not sent ('' for none). */
  problem(text) {
    this.ui.problem.textContent = text;
    this.ui.problem.hidden = !text;
  }

  /** A new session: an empty log, the panel closed. */
  clear() {
    const { ui } = this;
    ui.list.replaceChildren();
    ui.text.value = '';
    this.problem('');
    ui.panel.hidden = true;
    ui.toggle.setAttribute('aria-expanded', 'false');
    this.log.show(false);
    this.available(false);
    this.unread();
  }
}
