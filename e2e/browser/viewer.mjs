// Opens Tether's browser viewer in Debian's Chromium, joins with a code, and reports what the
// page saw as one `result: {json}` line. viewer/tests/browser_e2e.rs runs it and judges.
//
//   node viewer.mjs --url http://127.0.0.1:PORT/ --code "482 913 075" --out DIR
//                   [--clicks x,y,button;...] [--keys KeyA,Enter,...] [--consent]
//                   [--chat TEXT]... [--paste TEXT] [--expect-chat TEXT]...
//                   [--expect-clipboard TEXT]... [--send-file PATH]... [--expect-file NAME]...
//                   [--cancel-after-bytes N]
//
// With --consent the agent asks its person first: the script prints `waiting: {json}` (the
// security code and the state line the page shows while it waits) before the picture comes.
//
// Clicks are at 0..1 of the shared display; the script turns them into page coordinates over
// the video's content rectangle (letterboxing included) and clicks there with the real mouse.
//
// Chat and clipboard (the page's `chat` and `clipboard` channels; printed texts are JSON):
//   --chat TEXT        once connected, types TEXT in the chat panel and presses Enter
//                      (repeatable)
//   --paste TEXT       puts TEXT on the browser's clipboard and presses Ctrl+V on the picture,
//                      so the page sends it on `clipboard` before the keys; waits for the
//                      answer (TEXT must be new to the computer: what it holds is not resent)
//   --expect-chat TEXT / --expect-clipboard TEXT
//                      before finishing, waits until the computer sent this chat message /
//                      this clipboard text (and it is on the browser's clipboard)
// Whenever they happen, in the order the page saw them, it prints:
//   chat: you: "TEXT"                      the page sent this chat message (trimmed)
//   chat: computer: "TEXT"                 a chat message from the computer
//   clipboard: applied seq=N               the computer took the page's text N
//   clipboard: refused seq=N reason=R      ... or refused it (view_only, off, too_large, failed)
//   clipboard: received "TEXT"             the computer's clipboard text, written to the
//                                          browser's clipboard (read back to check)
//   clipboard: not written "TEXT"          ... which the browser would not write (the page
//                                          answered refused{failed})
//   clipboard: mismatch "TEXT" "OTHER"     ... written, but the browser's clipboard reads OTHER
//   clipboard: notice "TEXT"               a clipboard notice the page showed
// The context is granted clipboard-read and clipboard-write for the page's origin.
//
// Files (the page's `files` channel and a `file:<id>` channel per transfer):
//   --send-file PATH   once connected, picks PATH in the page's file input (as Send file does)
//                      and waits until the computer saved, failed or refused it, or it was
//                      cancelled (at most 120 s each); one after the other (repeatable)
//   --cancel-after-bytes N
//                      clicks Cancel on the first sent file once N bytes of it went out
//   --expect-file NAME before finishing, waits until a file from the computer with this name
//                      arrived whole (at most 120 s; repeatable)
// Every file the computer sends that the page took whole is downloaded (its link clicked) to
// <out>/received/<its name as saved>, hashed again there and compared with the page's hash.
// Whenever they happen, in the order the page saw them, it prints (names are JSON):
//   file: sent "NAME" BYTES bytes as "SAVED" in MS ms
//                                          the computer saved a file the page sent (SAVED:
//                                          its name there; MS: from the offer to `saved`)
//   file: rejected "NAME" reason=R         the computer refused it (view_only, off, busy, ...)
//   file: failed "NAME" reason=R           it failed (corrupt, failed, disconnected, ...)
//   file: cancelled "NAME"                 cancelled (here, or by the computer)
//   file: received "NAME" BYTES bytes sha256=HEX
//                                          a file from the computer, checked and downloaded
//   file: mismatch "NAME" sha256=HEX page=HEX
//                                          ... downloaded, but not what the page checked
//   file: receive rejected "NAME" reason=R / file: receive failed "NAME" reason=R /
//   file: receive cancelled "NAME"         a file from the computer that did not arrive
import { chromium } from 'playwright-core';
import { createHash } from 'node:crypto';
import { createReadStream, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';

const PATIENCE_MS = 60_000;
/** How long one file may take, either way. */
const FILE_PATIENCE_MS = 120_000;
/** A transfer's states once it is over. */
const FINISHED = ['saved', 'failed', 'rejected', 'cancelled'];

function parseArgs(argv) {
  const args = { clicks: [], keys: [], consent: false, chat: [], paste: null, expectChat: [],
    expectClipboard: [], sendFile: [], expectFile: [], cancelAfterBytes: null };
  for (let i = 2; i < argv.length; i += 2) {
    const [key, value] = [argv[i], argv[i + 1]];
    if (key === '--consent') {
      args.consent = true;
      i -= 1;
    } else if (key === '--url') args.url = value;
    else if (key === '--code') args.code = value;
    else if (key === '--out') args.out = value;
    else if (key === '--clicks') {
      args.clicks = value.split(';').filter(Boolean).map((c) => c.split(',').map(Number));
    } else if (key === '--keys') args.keys = value.split(',').filter(Boolean);
    else if (key === '--chat') args.chat.push(value);
    else if (key === '--paste') args.paste = value;
    else if (key === '--expect-chat') args.expectChat.push(value);
    else if (key === '--expect-clipboard') args.expectClipboard.push(value);
    else if (key === '--send-file') args.sendFile.push(value);
    else if (key === '--expect-file') args.expectFile.push(value);
    else if (key === '--cancel-after-bytes') {
      args.cancelAfterBytes = Number(value);
      if (!Number.isSafeInteger(args.cancelAfterBytes) || args.cancelAfterBytes < 0) {
        throw new Error('--cancel-after-bytes needs a number of bytes');
      }
    }
    else throw new Error(`unknown argument ${key}`);
    if (value === undefined && key !== '--consent') throw new Error(`${key} needs a value`);
  }
  if (!args.url || !args.code || !args.out) throw new Error('--url, --code and --out are required');
  return args;
}

// Records every message the page sends on a data channel, before the page's own script runs.
function recordDataChannelSends() {
  window.__sent = [];
  const send = RTCDataChannel.prototype.send;
  RTCDataChannel.prototype.send = function (data) {
    if (this.label === 'input') window.__sent.push(data);
    return send.call(this, data);
  };
}

// Passes the page's chat, clipboard and file events (main.js emits them) to the script.
function forwardPageEvents() {
  for (const name of ['tether-chat', 'tether-clipboard', 'tether-file']) {
    window.addEventListener(name, (e) => window.__tetherReport(name, e.detail));
  }
}

/** Values that arrived, and waits for one. */
class Arrivals {
  constructor() {
    this.seen = [];
    this.waiters = [];
  }

  add(value) {
    this.seen.push(value);
    for (const w of this.waiters.splice(0)) w();
  }

  /** Resolves once `test(value)` held for an arrival (also an earlier one). */
  async until(test, what, ms = PATIENCE_MS) {
    const deadline = Date.now() + ms;
    while (!this.seen.some(test)) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.seen.find(test);
  }
}

/** The SHA-256 of a file, as hex. */
function sha256File(path) {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(path).on('data', (d) => hash.update(d)).on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}

async function main() {
  const args = parseArgs(process.argv);
  const profile = mkdtempSync(join(tmpdir(), 'tether-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    // The toolbar is 44 px: the 1280x720 picture then fills the stage 1:1.
    viewport: { width: 1280, height: 764 },
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--autoplay-policy=no-user-gesture-required',
      // Raw host candidates instead of mDNS names (see docs/protocol.md on mDNS).
      '--disable-features=WebRtcHideLocalIpsWithMdns',
    ],
  });
  const result = {};
  // The page's chat and clipboard events being printed (see onPageEvent).
  let reports = Promise.resolve();
  try {
    const page = context.pages()[0] || (await context.newPage());
    const consoleLines = [];
    page.on('console', (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => consoleLines.push(`pageerror: ${e.message}`));
    await page.addInitScript(recordDataChannelSends);
    await context.grantPermissions(['clipboard-read', 'clipboard-write'],
      { origin: new URL(args.url).origin });
    // What the computer sent on `chat` and `clipboard`.
    const chats = new Arrivals();
    const clipboardTexts = new Arrivals();
    // Transfers that ended: the page's sends (its records), and files from the computer.
    const sendsDone = new Arrivals();
    const received = new Arrivals();
    const receivedFiles = [];
    /** A file the computer sent, downloaded from its link and hashed again. */
    const onReceived = async (t) => {
      const dir = join(args.out, 'received');
      mkdirSync(dir, { recursive: true });
      const [download] = await Promise.all([
        page.waitForEvent('download', { timeout: PATIENCE_MS }),
        page.evaluate((id) => {
          const link = document.querySelector(`#files-list li[data-file-id="${id}"] a.download`);
          if (!link || !link.href) throw new Error(`no download link for ${id}`);
          link.click();
        }, t.id),
      ]);
      const path = join(dir, basename(t.savedAs));
      await download.saveAs(path);
      const sha256 = await sha256File(path);
      if (sha256 !== t.sha256) {
        console.log(`file: mismatch ${JSON.stringify(t.savedAs)} sha256=${sha256} page=${t.sha256}`);
        return;
      }
      console.log(`file: received ${JSON.stringify(t.savedAs)} ${t.size} bytes sha256=${sha256}`);
      const file = { id: t.id, name: t.name, savedAs: t.savedAs, bytes: t.size, sha256, path };
      receivedFiles.push(file);
      received.add(file);
    };
    const onFile = async (t) => {
      if (!FINISHED.includes(t.state)) return;
      const name = JSON.stringify(t.direction === 'send' ? t.name : t.savedAs);
      const how = t.direction === 'send' ? '' : 'receive ';
      if (t.state === 'saved' && t.direction === 'send') {
        console.log(`file: sent ${name} ${t.size} bytes as ${JSON.stringify(t.savedAs)} in ${t.ms} ms`);
      } else if (t.state === 'saved') {
        await onReceived(t);
      } else if (t.state === 'cancelled') {
        console.log(`file: ${how}cancelled ${name}`);
      } else {
        console.log(`file: ${how}${t.state} ${name} reason=${t.reason}`);
      }
      if (t.direction === 'send') sendsDone.add(t);
    };
    const onClipboardText = async ({ text, written }) => {
      if (!written) {
        console.log(`clipboard: not written ${JSON.stringify(text)}`);
        return;
      }
      const now = await page.evaluate(() => navigator.clipboard.readText()).catch((e) => `(${e.message})`);
      if (now === text) {
        console.log(`clipboard: received ${JSON.stringify(text)}`);
        clipboardTexts.add(text);
      } else {
        console.log(`clipboard: mismatch ${JSON.stringify(text)} ${JSON.stringify(now)}`);
      }
    };
    const onPageEvent = async (name, detail) => {
      if (name === 'tether-chat') {
        console.log(`chat: ${detail.from}: ${JSON.stringify(detail.text)}`);
        if (detail.from === 'computer') chats.add(detail.text);
      } else if (name === 'tether-clipboard' && detail.kind === 'answer') {
        const why = detail.type === 'refused' ? ` reason=${detail.reason}` : '';
        console.log(`clipboard: ${detail.type} seq=${detail.seq}${why}`);
      } else if (name === 'tether-clipboard' && detail.kind === 'received') {
        await onClipboardText(detail);
      } else if (name === 'tether-clipboard' && detail.kind === 'notice') {
        console.log(`clipboard: notice ${JSON.stringify(detail.text)}`);
      } else if (name === 'tether-file') {
        await onFile(detail);
      }
    };
    // One after the other, so the lines come in the order the page saw things.
    await page.exposeBinding('__tetherReport', (_source, name, detail) => {
      reports = reports.then(() => onPageEvent(name, detail))
        .catch((e) => consoleLines.push(`script: ${e.message}`));
    });
    await page.addInitScript(forwardPageEvents);
    await page.goto(args.url);
    await page.fill('#code', args.code);
    await page.fill('#name', 'Browser test');
    await page.click('#join');
    if (args.consent) {
      await page.waitForFunction(() => window.tether.state === 'waiting' && window.tether.sas,
        null, { timeout: PATIENCE_MS });
      const waiting = await page.evaluate(() => ({
        sas: window.tether.sas,
        stateText: document.getElementById('state').textContent,
      }));
      console.log(`waiting: ${JSON.stringify(waiting)}`);
    }

    await page.waitForFunction(() => window.tether.firstFrameMs !== null, null,
      { timeout: PATIENCE_MS });
    result.firstFrameMs = await page.evaluate(() => window.tether.firstFrameMs);
    result.marks = await page.evaluate(() => window.tether.marks);
    await page.waitForFunction(() => window.tether.stats && window.tether.stats.framesDecoded > 0,
      null, { timeout: PATIENCE_MS });
    result.framesBefore = await page.evaluate(() => window.tether.stats.framesDecoded);
    // The pattern is still, so frames come only as the encoder refreshes; wait for some.
    await page.waitForFunction((n) => window.tether.stats.framesDecoded > n, result.framesBefore,
      { timeout: PATIENCE_MS });
    const stats = await page.evaluate(() => window.tether.stats);
    Object.assign(result, {
      framesAfter: stats.framesDecoded, codec: stats.codec, width: stats.width,
      height: stats.height, pair: stats.pair, state: await page.evaluate(() => window.tether.state),
      sas: await page.evaluate(() => window.tether.sas),
      stateText: await page.evaluate(() => document.getElementById('state').textContent),
    });

    // The stats overlay shows, then hides again so that it is not in the screenshot.
    await page.click('#toggle-stats');
    await page.waitForFunction(() => document.getElementById('stats').textContent.includes('fps'),
      null, { timeout: PATIENCE_MS });
    result.overlay = await page.textContent('#stats');
    await page.click('#toggle-stats');

    const rect = await page.evaluate(() => {
      const v = document.getElementById('video');
      const box = v.getBoundingClientRect();
      const scale = Math.min(box.width / v.videoWidth, box.height / v.videoHeight);
      const w = v.videoWidth * scale;
      const h = v.videoHeight * scale;
      return { x: box.left + (box.width - w) / 2, y: box.top + (box.height - h) / 2, width: w, height: h };
    });
    result.contentRect = rect;
    result.screenshot = join(args.out, 'page-video.png');
    await page.screenshot({ path: result.screenshot, clip: rect });
    await page.screenshot({ path: join(args.out, 'page.png') });

    if (args.clicks.length || args.keys.length) {
      // Without an `input` channel from the agent (an agent built without remote control),
      // a recorder stands in for it, so the page's capture and mapping are still checked.
      result.inputChannel = await page.evaluate(() => {
        if (session.input) return 'agent';
        session.input = {
          label: 'input', readyState: 'open', bufferedAmount: 0,
          send(data) { window.__sent.push(data); },
        };
        return 'recorder';
      });
      // Letterboxed: a narrower window puts bars above and below the picture.
      await page.setViewportSize({ width: 1000, height: 764 });
      await page.waitForFunction(() => document.getElementById('video').clientWidth === 1000);
      const box = await page.evaluate(() => {
        const r = document.getElementById('video').getBoundingClientRect();
        return { x: r.left, y: r.top, width: r.width, height: r.height };
      });
      // The picture's rectangle inside the element, computed here independently of the page.
      const shown = box.width * 720 / 1280;
      const top = box.y + (box.height - shown) / 2;
      const names = ['left', 'middle', 'right'];
      for (const [x, y, button] of args.clicks) {
        const at = [box.x + x * box.width, top + y * shown];
        await page.mouse.move(at[0], at[1]);
        await page.mouse.click(at[0], at[1], { button: names[button] || 'left' });
      }
      await page.mouse.wheel(0, 300);
      for (const key of args.keys) await page.keyboard.press(key);
      // Focus leaves the picture: the viewer lets go of everything.
      await page.evaluate(() => document.getElementById('video').blur());
    }
    for (const text of args.chat) {
      // Typed key by key into the panel's field: none of these keys may reach the computer.
      await page.waitForFunction(() => !document.getElementById('toggle-chat').disabled, null,
        { timeout: PATIENCE_MS });
      if (await page.isHidden('#chat-panel')) await page.click('#toggle-chat');
      const before = await page.evaluate(() => window.tether.chat.length);
      await page.locator('#chat-text').pressSequentially(text);
      await page.press('#chat-text', 'Enter');
      await page.waitForFunction((n) => window.tether.chat.length > n
        || !document.getElementById('chat-problem').hidden, before, { timeout: PATIENCE_MS });
      const sent = await page.evaluate((n) => window.tether.chat.slice(n).some((e) => e.from === 'you'), before);
      if (!sent) throw new Error(`chat not sent: ${await page.textContent('#chat-problem')}`);
    }
    if (args.chat.length) {
      // Closed again: the picture gets its width and the keyboard back.
      await page.click('#toggle-chat');
    }
    if (args.paste !== null) {
      await page.waitForFunction(() => window.tether.clipboard.available, null,
        { timeout: PATIENCE_MS });
      await page.evaluate((text) => navigator.clipboard.writeText(text), args.paste);
      const mark = await page.evaluate(() => {
        const c = window.tether.clipboard;
        return { answered: c.applied + c.refused, notice: JSON.stringify(c.lastNotice),
          sent: window.__sent.length };
      });
      await page.focus('#video');
      await page.keyboard.press('Control+V');
      // The answer, or else what the page said (a text it would not send, say). A text the
      // computer holds already is not sent again: no answer, no notice.
      await page.waitForFunction((m) => {
        const c = window.tether.clipboard;
        return c.applied + c.refused > m.answered || JSON.stringify(c.lastNotice) !== m.notice;
      }, mark, { timeout: 10_000 }).catch(() => {
        throw new Error('--paste: no clipboard answer and no notice within 10 s of Ctrl+V');
      });
      // The held keys go right after the answer; focus leaves the picture after them.
      await page.waitForFunction((n) => window.__sent.slice(n).some((m) => m.includes('"KeyV"')),
        mark.sent, { timeout: 5_000 }).catch(() => {});
      await page.evaluate(() => document.getElementById('video').blur());
    }
    if (args.sendFile.length) {
      // The agent opens `files` beside `input`; without it each file fails as `unavailable`.
      await page.waitForFunction(() => window.tether.fileSharing.open, null, { timeout: 10_000 })
        .catch(() => {});
    }
    for (const [i, path] of args.sendFile.entries()) {
      const before = await page.evaluate(() => window.tether.files.filter((t) => t.direction === 'send').length);
      await page.setInputFiles('#file-input', path);
      const id = await (await page.waitForFunction((n) => {
        const sends = window.tether.files.filter((t) => t.direction === 'send');
        return sends.length > n && sends[sends.length - 1].id;
      }, before, { timeout: PATIENCE_MS })).jsonValue();
      if (i === 0 && args.cancelAfterBytes !== null) {
        await page.waitForFunction(({ id, n }) => {
          const t = window.tether.files.find((f) => f.id === id);
          return !t || t.bytes >= n || !['queued', 'offered', 'sending'].includes(t.state);
        }, { id, n: args.cancelAfterBytes }, { timeout: FILE_PATIENCE_MS, polling: 5 });
        // Its Cancel button, if it is still running.
        await page.evaluate((id) => {
          const cancel = document.querySelector(`#files-list li[data-file-id="${id}"] button.cancel`);
          if (cancel && !cancel.hidden) cancel.click();
        }, id);
      }
      await sendsDone.until((t) => t.id === id, `file ${JSON.stringify(path)} to end`, FILE_PATIENCE_MS);
    }
    for (const name of args.expectFile) {
      await received.until((f) => f.name === name || f.savedAs === name,
        `file ${JSON.stringify(name)} from the computer`, FILE_PATIENCE_MS);
    }
    if (args.sendFile.length || args.expectFile.length) {
      result.files = await page.evaluate(() => window.tether.files);
      result.fileSharing = await page.evaluate(() => window.tether.fileSharing);
      result.receivedFiles = receivedFiles;
    }
    for (const text of args.expectChat) await chats.until((t) => t === text, `chat ${JSON.stringify(text)}`);
    for (const text of args.expectClipboard) {
      await clipboardTexts.until((t) => t === text, `clipboard ${JSON.stringify(text)}`);
    }
    if (args.chat.length || args.paste !== null || args.expectChat.length || args.expectClipboard.length) {
      result.chat = await page.evaluate(() => window.tether.chat);
      result.clipboard = await page.evaluate(() => window.tether.clipboard);
    }
    result.sent = await page.evaluate(() => window.__sent);
    result.console = consoleLines;
  } catch (err) {
    result.error = String(err && err.stack ? err.stack : err);
  } finally {
    // Lines about what already happened come before the result.
    await Promise.race([reports, new Promise((resolve) => setTimeout(resolve, 2000))]);
    console.log(`result: ${JSON.stringify(result)}`);
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
  process.exit(result.error ? 1 : 0);
}

main();
