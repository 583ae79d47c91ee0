// The short authentication string (sas.js) against the Rust one (proto/src/sas.rs).
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { commitment, fingerprint, normaliseFingerprint, sasFromFingerprints, sasFromSdps } from '../sas.js';

const FP_A = 'sha-256 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB:3A:2E:61:9F:7B:90:42:5A:8E:1F:26:E7';
const FP_B = 'sha-256 0F:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF';
const sdp = (fp) => `v=0\r\ns=-\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=fingerprint:${fp}\r\n`;

test('the same digits as proto/src/sas.rs (pinned there too)', async () => {
  assert.equal(await sasFromFingerprints(FP_A, FP_B), '656 373');
  assert.equal(await sasFromSdps(sdp(FP_A.toLowerCase()), sdp(FP_B)), '656 373');
  assert.notEqual(await sasFromSdps(sdp(FP_B), sdp(FP_A)), '656 373', 'order matters');
});

test('SDPs without a usable fingerprint have none', async () => {
  assert.equal(fingerprint('v=0\r\n'), null);
  assert.equal(fingerprint('a=fingerprint:sha-256 ZZ:11'), null);
  assert.equal(await sasFromSdps('v=0', sdp(FP_B)), null);
  assert.equal(fingerprint(sdp(FP_A)), FP_A);
});

test('the commitment is proto/src/sas.rs\'s (pinned there too)', async () => {
  assert.equal(await commitment(FP_B), '57dbe14c7de1058733af7f56b1eb84d3c96e6fd26c7e8ca285110a52052f501d');
  assert.equal(normaliseFingerprint(FP_B.toLowerCase()), FP_B);
  assert.equal(normaliseFingerprint('sha 256 AB'), null);
  assert.equal(normaliseFingerprint(`sha-256 ${'AB:'.repeat(100)}AB`), null);
});
