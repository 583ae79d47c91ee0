// tether-bench's browser viewer: Debian's headless Chromium reads the painted wall clock (the
// latency probe of media/src/probe.rs) from every frame it decodes and displays, and reports
// one `result: {json}` line. testkit/src/bench/browser.rs runs it.
//
//   node bench.mjs tether --url http://127.0.0.1:PORT/ --code "482 913 075" --seconds N --warmup W
//       the agent's own page: code typed, Connect clicked
//   node bench.mjs gst --seconds N --warmup W
//       a minimal page on 127.0.0.1 whose RTCPeerConnection answers an offer; signalling is JSON
//       lines: offers and candidates in on stdin, `signal: {json}` lines out on stdout
//
// Progress lines on stdout: `bench: first-frame`, `bench: window-start`, `bench: window-end`
// (the bench measures CPU between the last two). Latencies are in ms: the page's wall clock
// (performance.timeOrigin + performance.now()) minus the painted value, in the probe's unit
// (tenths of a millisecond of CLOCK_REALTIME, modulo 2^32).
//   decoded:   each frame as a MediaStreamTrackProcessor hands it over (after the jitter buffer
//              and the decoder)
//   displayed: each frame's requestVideoFrameCallback, at its expectedDisplayTime
//   received:  the same frames' receiveTime (the frame's last packet in)
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import readline from 'node:readline';

const PATIENCE_MS = 60_000;
const CHROMIUM = '/usr/bin/chromium';

function parseArgs(argv) {
  const args = { mode: argv[2], seconds: 10, warmup: 2 };
  for (let i = 3; i < argv.length; i += 2) {
    const [key, value] = [argv[i], argv[i + 1]];
    if (key === '--url') args.url = value;
    else if (key === '--code') args.code = value;
    else if (key === '--seconds') args.seconds = Number(value);
    else if (key === '--warmup') args.warmup = Number(value);
    else throw new Error(`unknown argument ${key}`);
  }
  if (args.mode !== 'tether' && args.mode !== 'gst') throw new Error('mode: tether or gst');
  if (args.mode === 'tether' && (!args.url || !args.code)) {
    throw new Error('tether needs --url and --code');
  }
  if (!(args.seconds > args.warmup && args.warmup >= 0)) throw new Error('need seconds > warmup');
  return args;
}

// Runs in the page before its own scripts: finds every RTCPeerConnection's video track, reads
// the probe from decoded frames (a MediaStreamTrackProcessor, read in a worker so that the
// page's own work does not hold frames back) and displayed ones (#video's
// requestVideoFrameCallback).
function benchReader() {
  const B = {
    pcs: [], clickAt: null, firstFrameAt: null, measuring: false, mstp: 'none',
    decoded: [], displayed: [], received: [], read: 0, unreadable: 0, rvfc: 0, errors: [],
  };
  window.__bench = B;

  // What both the page and the worker need (the worker gets it as source text).
  function probeKit() {
    const W = 544; // ProbeLayout::default().size(): 34 blocks of 16 px, 2 rows
    const H = 32;
    const since = (epochMs, painted) => {
      const t = Math.floor(epochMs * 10);
      const d = (((t - painted) % 4294967296) + 4294967296) % 4294967296;
      // As the native viewer: a read older than 10 s is stale or misread, not a latency.
      return d < 100000 ? d / 10 : null;
    };
    // media/src/probe.rs read_rgba, over `level(x, y)` in 0..255.
    const readProbe = (level) => {
      const b = 16;
      const reach = b / 4;
      const sample = (row, column) => {
        const cx = column * b + b / 2;
        const cy = row * b + b / 2;
        let sum = 0;
        let n = 0;
        for (let y = cy - reach; y <= cy + reach; y++) {
          for (let x = cx - reach; x <= cx + reach; x++) { sum += level(x, y); n++; }
        }
        const l = Math.floor(sum / n);
        if (l >= 128 + 48) return 1;
        if (l + 48 < 128) return 0;
        return -1;
      };
      let value = 0;
      for (let column = 0; column < 34; column++) {
        const top = sample(0, column);
        const bottom = sample(1, column);
        if (top < 0 || bottom < 0 || bottom === top) return null;
        if (column < 2) {
          if (top !== (column === 0 ? 1 : 0)) return null;
        } else value = value * 2 + top;
      }
      return value;
    };
    const rgbaLevel = (d, stride, offset) => (x, y) => {
      const i = offset + y * stride + 4 * x;
      return (d[i] + d[i + 1] + d[i + 2]) / 3;
    };
    // Reads every VideoFrame of `readable`; `report(ms or null, error)` for each.
    async function readFrames(readable, report) {
      const reader = readable.getReader();
      const rect = { x: 0, y: 0, width: W, height: H };
      const ctx = new OffscreenCanvas(W, H).getContext('2d', { willReadFrequently: true });
      let buf = new Uint8Array(0);
      for (;;) {
        const { value: frame, done } = await reader.read();
        if (done) break;
        const at = performance.timeOrigin + performance.now();
        try {
          let level = null;
          const fmt = frame.format || '';
          if (/^(I4|NV12)/.test(fmt) || /^(RGB|BGR)/.test(fmt)) {
            const size = frame.allocationSize({ rect });
            if (buf.length < size) buf = new Uint8Array(size);
            const [plane] = await frame.copyTo(buf, { rect });
            level = /^(RGB|BGR)/.test(fmt)
              ? rgbaLevel(buf, plane.stride, plane.offset)
              : (x, y) => ((buf[plane.offset + y * plane.stride + x] - 16) * 255) / 219;
          } else {
            ctx.drawImage(frame, 0, 0, W, H, 0, 0, W, H);
            level = rgbaLevel(ctx.getImageData(0, 0, W, H).data, W * 4, 0);
          }
          const painted = readProbe(level);
          report(painted === null ? null : since(at, painted), null);
        } catch (err) {
          report(null, `decoded: ${err}`);
        } finally {
          frame.close();
        }
      }
    }
    return { W, H, since, readProbe, rgbaLevel, readFrames };
  }
  function workerMain(kit) {
    self.onmessage = (e) => {
      kit.readFrames(e.data.readable, (ms, error) => self.postMessage({ ms, error }))
        .catch((err) => self.postMessage({ ms: null, error: `reader: ${err}` }));
    };
  }
  const kit = probeKit();
  const { W, H, since, readProbe, rgbaLevel } = kit;

  const onDecoded = (ms, error) => {
    if (error) {
      if (B.errors.length < 5) B.errors.push(error);
      return;
    }
    if (!B.measuring) return;
    B.read++;
    if (ms === null) B.unreadable++;
    else B.decoded.push(ms);
  };

  function readDecoded(track) {
    if (typeof MediaStreamTrackProcessor === 'undefined') { B.mstp = 'unavailable'; return; }
    const { readable } = new MediaStreamTrackProcessor({ track });
    try {
      const source = `(${workerMain.toString()})((${probeKit.toString()})());`;
      const worker = new Worker(URL.createObjectURL(new Blob([source], { type: 'text/javascript' })));
      worker.onmessage = (e) => onDecoded(e.data.ms, e.data.error);
      worker.onerror = (e) => onDecoded(null, `worker: ${e.message || 'failed to start'}`);
      worker.postMessage({ readable }, [readable]);
      B.mstp = 'worker';
    } catch (err) {
      B.mstp = `page (${err})`;
      kit.readFrames(readable, onDecoded).catch((e) => B.errors.push(`reader: ${e}`));
    }
  }

  function watchDisplayed(video) {
    const canvas = document.createElement('canvas');
    canvas.width = W;
    canvas.height = H;
    const ctx = canvas.getContext('2d', { willReadFrequently: true });
    const onFrame = (_now, meta) => {
      if (B.firstFrameAt === null) B.firstFrameAt = performance.now();
      if (B.measuring && video.videoWidth >= W && video.videoHeight >= H) {
        B.rvfc++;
        try {
          ctx.drawImage(video, 0, 0, W, H, 0, 0, W, H);
          const painted = readProbe(rgbaLevel(ctx.getImageData(0, 0, W, H).data, W * 4, 0));
          if (painted !== null) {
            const shown = since(performance.timeOrigin + meta.expectedDisplayTime, painted);
            if (shown !== null) B.displayed.push(shown);
            if (meta.receiveTime) {
              const got = since(performance.timeOrigin + meta.receiveTime, painted);
              if (got !== null) B.received.push(got);
            }
          }
        } catch (err) {
          if (B.errors.length < 5) B.errors.push(`displayed: ${err}`);
        }
      }
      video.requestVideoFrameCallback(onFrame);
    };
    video.requestVideoFrameCallback(onFrame);
  }

  const Native = window.RTCPeerConnection;
  window.RTCPeerConnection = class extends Native {
    constructor(...args) {
      super(...args);
      B.pcs.push(this);
      this.addEventListener('track', (e) => {
        if (e.track.kind !== 'video') return;
        readDecoded(e.track);
        const attach = () => {
          const video = document.getElementById('video');
          if (video) watchDisplayed(video);
          else setTimeout(attach, 10);
        };
        attach();
      });
    }
  };
  document.addEventListener('submit', () => { if (B.clickAt === null) B.clickAt = performance.now(); }, true);

  B.snapshot = async () => {
    const pc = B.pcs[B.pcs.length - 1];
    if (!pc) return null;
    let found = null;
    (await pc.getStats()).forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'video') found = s;
    });
    if (!found) return null;
    const keys = ['timestamp', 'framesDecoded', 'framesReceived', 'framesDropped',
      'jitterBufferDelay', 'jitterBufferEmittedCount', 'totalDecodeTime', 'packetsLost',
      'nackCount', 'pliCount', 'frameWidth', 'frameHeight', 'decoderImplementation',
      'freezeCount', 'bytesReceived'];
    return Object.fromEntries(keys.map((k) => [k, found[k] ?? null]));
  };
  B.clockSkewMs = () => Date.now() - (performance.timeOrigin + performance.now());
}

// The page a GStreamer webrtcbin sends to: it answers, and shows the video as the agent's page
// does (a <video id="video">).
const GST_PAGE = `<!doctype html><meta charset="utf-8"><title>bench</title>
<style>body{margin:0;background:#000}video{width:100vw;height:100vh}</style>
<video id="video" autoplay muted playsinline></video>
<script>
const pc = new RTCPeerConnection();
const video = document.getElementById('video');
const pending = [];
const loopback = (c) => { const a = (c || '').split(' ')[4] || ''; return a.startsWith('127.') || a === '::1'; };
pc.ontrack = (e) => { video.srcObject = new MediaStream([e.track]); video.play().catch(() => {}); };
pc.onicecandidate = (e) => {
  if (e.candidate && loopback(e.candidate.candidate)) {
    benchSend(JSON.stringify({ type: 'candidate', candidate: e.candidate.candidate,
      sdpMLineIndex: e.candidate.sdpMLineIndex }));
  }
};
window.benchSignal = async (msg) => {
  if (msg.type === 'offer') {
    window.__bench.clickAt = performance.now();
    await pc.setRemoteDescription({ type: 'offer', sdp: msg.sdp });
    await pc.setLocalDescription(await pc.createAnswer());
    benchSend(JSON.stringify({ type: 'answer', sdp: pc.localDescription.sdp }));
    for (const c of pending.splice(0)) await pc.addIceCandidate(c);
  } else if (msg.type === 'candidate' && msg.candidate) {
    const c = { candidate: msg.candidate, sdpMLineIndex: msg.sdpMLineIndex || 0 };
    if (pc.remoteDescription) await pc.addIceCandidate(c); else pending.push(c);
  } else if (msg.type === 'error') {
    window.__bench.errors.push('sender: ' + msg.message);
  }
};
</script>`;

function servePage() {
  return new Promise((resolve) => {
    const server = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(GST_PAGE);
    });
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

function percentiles(values, prefix, out) {
  const sorted = [...values].sort((a, b) => a - b);
  out[`${prefix}N`] = sorted.length;
  if (!sorted.length) return;
  const at = (p) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
  out[`${prefix}P50`] = at(50);
  out[`${prefix}P95`] = at(95);
  out[`${prefix}P99`] = at(99);
  out[`${prefix}Max`] = sorted[sorted.length - 1];
}

// Flat: the bench's reader in Rust takes numbers and strings by key.
function summarise(s0, s1, page, result) {
  if (s0 && s1) {
    const dt = (s1.timestamp - s0.timestamp) / 1000;
    const d = (k) => (s1[k] ?? 0) - (s0[k] ?? 0);
    result.windowSeconds = dt;
    if (dt > 0) {
      result.fps = d('framesDecoded') / dt;
      result.kbps = (d('bytesReceived') * 8) / 1000 / dt;
    }
    if (d('jitterBufferEmittedCount') > 0) {
      result.jitterMs = (d('jitterBufferDelay') / d('jitterBufferEmittedCount')) * 1000;
    }
    if (d('framesDecoded') > 0) result.decodeMs = (d('totalDecodeTime') / d('framesDecoded')) * 1000;
    for (const k of ['framesDropped', 'packetsLost', 'nackCount', 'pliCount', 'freezeCount']) result[k] = d(k);
    result.size = `${s1.frameWidth}x${s1.frameHeight}`;
    result.decoder = s1.decoderImplementation;
    if (dt > 0) {
      result.readFps = page.read / dt;
      result.displayedFps = page.rvfc / dt;
    }
  }
  percentiles(page.decoded, 'decoded', result);
  percentiles(page.displayed, 'displayed', result);
  percentiles(page.received, 'received', result);
  result.unreadable = page.unreadable;
  result.mstp = page.mstp;
  if (page.errors.length) result.pageErrors = page.errors.join('; ');
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function main() {
  const args = parseArgs(process.argv);
  const profile = mkdtempSync(join(tmpdir(), 'tether-bench-chromium-'));
  let server = null;
  const result = { mode: args.mode };
  let context = null;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1280, height: 764 },
      // The agent's page allows only its own scripts (CSP); the reader's worker is a blob.
      bypassCSP: true,
      args: [
        '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync',
        '--autoplay-policy=no-user-gesture-required',
        '--disable-features=WebRtcHideLocalIpsWithMdns',
        // Loopback host candidates: the bench's traffic stays on 127.0.0.1.
        '--allow-loopback-in-peer-connection',
      ],
    });
    const page = context.pages()[0] || (await context.newPage());
    page.on('pageerror', (e) => console.error(`bench.mjs: pageerror: ${e.message}`));
    await page.addInitScript(benchReader);
    if (args.mode === 'tether') {
      await page.goto(args.url);
      await page.fill('#code', args.code);
      await page.fill('#name', 'tether-bench');
      await page.click('#join');
    } else {
      await page.exposeFunction('benchSend', (json) => console.log(`signal: ${json}`));
      server = await servePage();
      await page.goto(`http://127.0.0.1:${server.address().port}/`);
      const lines = readline.createInterface({ input: process.stdin });
      lines.on('line', (line) => {
        let msg;
        try { msg = JSON.parse(line); } catch (_) { return; }
        page.evaluate((m) => window.benchSignal(m), msg).catch((err) => {
          console.error(`bench.mjs: signalling: ${err.message}`);
        });
      });
    }
    await page.waitForFunction(() => window.__bench.firstFrameAt !== null, null,
      { timeout: PATIENCE_MS });
    console.log('bench: first-frame');
    const first = await page.evaluate(() => ({
      ms: window.__bench.clickAt === null ? null : window.__bench.firstFrameAt - window.__bench.clickAt,
      page: window.tether ? window.tether.firstFrameMs : null,
    }));
    result.firstFrameMs = first.ms;
    result.pageFirstFrameMs = first.page;
    await sleep(args.warmup * 1000);
    const s0 = await page.evaluate(async () => {
      const s = await window.__bench.snapshot();
      window.__bench.measuring = true;
      return s;
    });
    console.log('bench: window-start');
    await sleep((args.seconds - args.warmup) * 1000);
    const [s1, pageData] = await page.evaluate(async () => {
      const B = window.__bench;
      B.measuring = false;
      return [await B.snapshot(), {
        decoded: B.decoded, displayed: B.displayed, received: B.received, read: B.read,
        rvfc: B.rvfc, unreadable: B.unreadable, mstp: B.mstp, errors: B.errors,
      }];
    });
    console.log('bench: window-end');
    summarise(s0, s1, pageData, result);
    result.clockSkewMs = await page.evaluate(() => window.__bench.clockSkewMs());
    if (!s1) result.error = 'no inbound-rtp video in getStats()';
  } catch (err) {
    result.error = String(err && err.message ? err.message : err);
    if (/Executable doesn't exist|ENOENT/.test(result.error)) {
      result.error = `${CHROMIUM} not found: install Debian's chromium (scripts/deps.sh bench)`;
    }
  } finally {
    console.log(`result: ${JSON.stringify(result)}`);
    if (context) await context.close().catch(() => {});
    if (server) server.close();
    rmSync(profile, { recursive: true, force: true });
  }
  process.exit(result.error ? 1 : 0);
}

main();
