// Opens Tether's browser viewer in Debian's Chromium, joins with a code, and reports what the
// page saw as one `result: {json}` line. viewer/tests/browser_e2e.rs runs it and judges.
//
//   node viewer.mjs --url http://127.0.0.1:PORT/ --code "482 913 075" --out DIR
//                   [--clicks x,y,button;...] [--keys KeyA,Enter,...] [--consent]
//
// With --consent the agent asks its person first: the script prints `waiting: {json}` (the
// security code and the state line the page shows while it waits) before the picture comes.
//
// Clicks are at 0..1 of the shared display; the script turns them into page coordinates over
// the video's content rectangle (letterboxing included) and clicks there with the real mouse.
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const PATIENCE_MS = 60_000;

function parseArgs(argv) {
  const args = { clicks: [], keys: [], consent: false };
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
    else throw new Error(`unknown argument ${key}`);
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
  try {
    const page = context.pages()[0] || (await context.newPage());
    const consoleLines = [];
    page.on('console', (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => consoleLines.push(`pageerror: ${e.message}`));
    await page.addInitScript(recordDataChannelSends);
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
    result.sent = await page.evaluate(() => window.__sent);
    result.console = consoleLines;
  } catch (err) {
    result.error = String(err && err.stack ? err.stack : err);
  } finally {
    console.log(`result: ${JSON.stringify(result)}`);
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
  process.exit(result.error ? 1 : 0);
}

main();
