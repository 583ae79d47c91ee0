// The short authentication string, as proto/src/sas.rs computes it: six digits from SHA-256
// over the offer's and the answer's DTLS fingerprints, which both people read aloud. A server
// that swapped the fingerprints (to sit between the two peer connections) cannot make both
// ends show the same digits.

const CONTEXT = 'tether-sas-v1';

/** The first `a=fingerprint:` of an SDP as `sha-256 AB:CD:…`, or null. */
export function fingerprint(sdp) {
  for (const raw of String(sdp).split(/\r?\n/)) {
    const line = raw.trim();
    if (!line.startsWith('a=fingerprint:')) continue;
    const rest = line.slice('a=fingerprint:'.length).trim();
    const space = rest.indexOf(' ');
    if (space <= 0) return null;
    const algorithm = rest.slice(0, space);
    const value = rest.slice(space + 1).trim();
    if (!value || !value.split(':').every((p) => /^[0-9a-fA-F]{2}$/.test(p))) return null;
    return `${algorithm.toLowerCase()} ${value.toUpperCase()}`;
  }
  return null;
}

/** `123 456` for two normalised fingerprints (offer first). */
export async function sasFromFingerprints(offer, answer, subtle = globalThis.crypto.subtle) {
  const parts = [CONTEXT, offer, answer].map((p) => new TextEncoder().encode(p));
  const bytes = new Uint8Array(parts.reduce((n, p) => n + 4 + p.length, 0));
  const view = new DataView(bytes.buffer);
  let at = 0;
  for (const part of parts) {
    view.setUint32(at, part.length);
    bytes.set(part, at + 4);
    at += 4 + part.length;
  }
  const digest = new DataView(await subtle.digest('SHA-256', bytes));
  const value = digest.getUint32(0) % 1000000;
  const pad = (n) => String(n).padStart(3, '0');
  return `${pad(Math.floor(value / 1000))} ${pad(value % 1000)}`;
}

/** The string for a session's offer and answer SDPs, or null without fingerprints. */
export async function sasFromSdps(offer, answer, subtle) {
  const a = fingerprint(offer);
  const b = fingerprint(answer);
  return a && b ? sasFromFingerprints(a, b, subtle) : null;
}
