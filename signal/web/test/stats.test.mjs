// The statistics overlay's figures (stats.js) from an RTCStatsReport-like list.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { formatStats, summariseStats } from '../stats.js';

function report(framesDecoded, bytesReceived, totalDecodeTime) {
  return [
    { id: 'v', type: 'inbound-rtp', kind: 'video', codecId: 'c1', framesDecoded, bytesReceived,
      frameWidth: 1280, frameHeight: 720, packetsLost: 2, totalDecodeTime },
    { id: 'a', type: 'inbound-rtp', kind: 'audio', codecId: 'c2' },
    { id: 'c1', type: 'codec', mimeType: 'video/H264' },
    { id: 'c2', type: 'codec', mimeType: 'audio/opus' },
    { id: 't', type: 'transport', selectedCandidatePairId: 'p' },
    { id: 'p', type: 'candidate-pair', currentRoundTripTime: 0.0125, localCandidateId: 'l',
      remoteCandidateId: 'r' },
    { id: 'l', type: 'local-candidate', candidateType: 'prflx', address: '192.0.2.7', port: 5000 },
    { id: 'r', type: 'remote-candidate', candidateType: 'host', ip: '192.0.2.1', port: 6000 },
  ];
}

test('one sample: the stream, codecs and the selected pair; no rates yet', () => {
  const s = summariseStats(report(30, 100_000, 0.3), null, 1000);
  assert.equal(s.at, 1000);
  assert.equal(s.framesDecoded, 30);
  assert.equal(`${s.width}x${s.height}`, '1280x720');
  assert.equal(s.codec, 'video/H264');
  assert.equal(s.audioCodec, 'audio/opus');
  assert.equal(s.rttMs, 12.5);
  assert.equal(s.pair, 'prflx 192.0.2.7:5000 -> host 192.0.2.1:6000');
  assert.equal(s.packetsLost, 2);
  assert.equal(s.fps, 0);
  assert.equal(s.kbps, 0);
});

test('two samples: frame rate, bit rate and decode time per frame between them', () => {
  const first = summariseStats(report(30, 100_000, 0.3), null, 1000);
  const second = summariseStats(report(90, 350_000, 0.42), first, 3000);
  assert.equal(second.fps, 30);
  assert.equal(second.kbps, 1000);
  assert.ok(Math.abs(second.decodeMs - 2) < 1e-9, `${second.decodeMs}`);
});

test('an empty report: zeros, an unknown round trip', () => {
  const s = summariseStats([], null, 5);
  assert.equal(s.framesDecoded, 0);
  assert.equal(s.rttMs, null);
  assert.equal(s.pair, '');
  assert.match(formatStats(s), /^rtt {8}\?$/m);
});

test('the overlay text: one figure a line', () => {
  const first = summariseStats(report(30, 100_000, 0.3), null, 1000);
  const text = formatStats(summariseStats(report(90, 350_000, 0.42), first, 3000));
  assert.equal(text, [
    'fps        30.0',
    'bitrate    1000 kbit/s',
    'rtt        12.5 ms',
    'decode     2.00 ms',
    'resolution 1280x720',
    'codec      video/H264 + audio/opus',
    'frames     90 (lost packets 2)',
    'ice        prflx 192.0.2.7:5000 -> host 192.0.2.1:6000',
  ].join('\n'));
});
