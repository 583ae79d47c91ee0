// The short authentication string, as proto/src/sas.rs computes it: six digits from SHA-256
// over the offer's and the answer's DTLS fingerprints, which both people read aloud. A server
// that swapped the fingerprints (to sit between the two peer connections) cannot make both
// ends show the same digits.

//
// The digits are shown before the person allows the viewer: `join` carries a commitment to the
// viewer's fingerprint, the agent answers with its own (`fingerprint`), and only then does the
// viewer reveal its own; the offer must carry the certificate the agent announced.

const CONTEXT = 'tether-sas-v1';
const COMMIT_CONTEXT = 'tether-sas-commit-v1';
const MAX_FINGERPRINT_CHARS = 256;

/** A fingerprint as `sha-256 AB:CD:…` (proto's normalise_fingerprint), or null. */
export function normaliseFingerprint(text) {
  const rest = String(text).trim();
  if (rest.length > MAX_FINGERPRINT_CHARS) return null;
  const space = rest.indexOf(' ');
  if (space <= 0) return null;
  const algorithm = rest.slice(0, space);
  const value = rest.slice(space + 1).trim();
  if (!/^[A-Za-z0-9-]+$/.test(algorithm)) return null;
  if (!value || !value.split(':').every((p) => /^[0-9a-fA-F]{2}$/.test(p))) return null;
  return `${algorithm.toLowerCase()} ${value.toUpperCase()}`;
}

/** The first `a=fingerprint:` of an SDP as `sha-256 AB:CD:…`, or null. */
export function fingerprint(sdp) {
  for (const raw of String(sdp).split(/\r?\n/)) {
    const line = raw.trim();
    if (line.startsWith('a=fingerprint:')) return normaliseFingerprint(line.slice('a=fingerprint:'.length));
  }
  return null;
}

/** SHA-256 over length-prefixed UTF-8 parts, as proto/src/sas.rs hashes. */
async function digest(parts, subtle) {
  const encoded = parts.map((p) => new TextEncoder().encode(p));
  const bytes = new Uint8Array(encoded.reduce((n, p) => n + 4 + p.length, 0));
  const view = new DataView(bytes.buffer);
  let at = 0;
  for (const part of encoded) {
    view.setUint32(at, part.length);
    bytes.set(part, at + 4);
    at += 4 + part.length;
  }
  return new Uint8Array(await subtle.digest('SHA-256', bytes));
}

/** The `commit` of a `join`: 64 lower-case hex digits binding the viewer to `fp`. */
export async function commitment(fp, subtle = globalThis.crypto.subtle) {
  const hash = await digest([COMMIT_CONTEXT, fp], subtle);
  return Array.from(hash, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** `123 456` for two normalised fingerprints (offer first). */
export async function sasFromFingerprints(offer, answer, subtle = globalThis.crypto.subtle) {
  const hash = await digest([CONTEXT, offer, answer], subtle);
  const value = new DataView(hash.buffer).getUint32(0) % 1000000;
  const pad = (n) => String(n).padStart(3, '0');
  return `${pad(Math.floor(value / 1000))} ${pad(value % 1000)}`;
}

/** The string for a session's offer and answer SDPs, or null without fingerprints. */
export async function sasFromSdps(offer, answer, subtle) {
  const a = fingerprint(offer);
  const b = fingerprint(answer);
  return a && b ? sasFromFingerprints(a, b, subtle) : null;
}
