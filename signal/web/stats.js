// The figures of the statistics overlay (and of `window.tether.stats`) from an
// RTCStatsReport. Pure functions: the report is anything with forEach over stats objects.

/** The figures from `report` at time `at` (ms); rates from the previous sample. */
export function summariseStats(report, previous, at) {
  const byId = new Map();
  report.forEach((s) => byId.set(s.id, s));
  const out = {
    at, framesDecoded: 0, fps: 0, bytesReceived: 0, kbps: 0,
    decodeMs: 0, width: 0, height: 0, codec: '', audioCodec: '', packetsLost: 0,
    rttMs: null, pair: '',
  };
  let totalDecodeTime = 0;
  report.forEach((s) => {
    if (s.type === 'inbound-rtp' && s.kind === 'video') {
      out.framesDecoded = s.framesDecoded || 0;
      out.bytesReceived = s.bytesReceived || 0;
      out.width = s.frameWidth || 0;
      out.height = s.frameHeight || 0;
      out.packetsLost = s.packetsLost || 0;
      totalDecodeTime = s.totalDecodeTime || 0;
      const codec = byId.get(s.codecId);
      if (codec) out.codec = codec.mimeType;
    } else if (s.type === 'inbound-rtp' && s.kind === 'audio') {
      const codec = byId.get(s.codecId);
      if (codec) out.audioCodec = codec.mimeType;
    } else if (s.type === 'transport' && s.selectedCandidatePairId) {
      const pair = byId.get(s.selectedCandidatePairId);
      if (pair) {
        if (Number.isFinite(pair.currentRoundTripTime)) out.rttMs = pair.currentRoundTripTime * 1000;
        const describe = (id) => {
          const c = byId.get(id);
          return c ? `${c.candidateType} ${c.address || c.ip || '?'}:${c.port}` : '?';
        };
        out.pair = `${describe(pair.localCandidateId)} -> ${describe(pair.remoteCandidateId)}`;
      }
    }
  });
  out.totalDecodeTime = totalDecodeTime;
  if (previous) {
    const secs = Math.max(0.001, (out.at - previous.at) / 1000);
    const frames = out.framesDecoded - previous.framesDecoded;
    out.fps = frames / secs;
    out.kbps = (out.bytesReceived - previous.bytesReceived) * 8 / 1000 / secs;
    out.decodeMs = frames > 0 ? (totalDecodeTime - previous.totalDecodeTime) * 1000 / frames : 0;
  }
  return out;
}

/** The overlay's text. */
export function formatStats(s) {
  return [
    `fps        ${s.fps.toFixed(1)}`,
    `bitrate    ${s.kbps.toFixed(0)} kbit/s`,
    `rtt        ${s.rttMs === null ? '?' : s.rttMs.toFixed(1) + ' ms'}`,
    `decode     ${s.decodeMs.toFixed(2)} ms`,
    `resolution ${s.width}x${s.height}`,
    `codec      ${s.codec}${s.audioCodec ? ' + ' + s.audioCodec : ''}`,
    `frames     ${s.framesDecoded} (lost packets ${s.packetsLost})`,
    `ice        ${s.pair}`,
  ].join('\n');
}
