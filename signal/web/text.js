// Text rules shared by the clipboard and chat channels (clipboard.js, chat.js), as proto's Rust
// checks them: lengths in bytes of UTF-8, `char::is_control` (Unicode's Cc: U+0000..U+001F and
// U+007F..U+009F) and `str::trim`. Pure functions only.

const encoder = new TextEncoder();

/** The length of `text` in bytes of UTF-8 (a lone surrogate counts as U+FFFD, 3 bytes). */
export const utf8Length = (text) => encoder.encode(text).length;

/**
 * `text` with lone surrogates replaced by U+FFFD, as TextEncoder would: JSON.stringify writes
 * them as `\udXXX` escapes, which serde_json refuses as invalid Unicode.
 */
export function wellFormed(text) {
  if (typeof text.toWellFormed === 'function') return text.toWellFormed();
  return text.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
}

/** Whether `c` (one character) is a control character by Rust's `char::is_control`. */
export function isControl(c) {
  const u = c.charCodeAt(0);
  return u <= 0x1f || (u >= 0x7f && u <= 0x9f);
}

/** Whether `text` has a control character other than those in `allowed` (a string). */
export function hasControl(text, allowed) {
  for (const c of text) {
    if (isControl(c) && !allowed.includes(c)) return true;
  }
  return false;
}

// Unicode's White_Space, which Rust's `str::trim` takes off (JavaScript's trim also takes
// U+FEFF and leaves U+0085).
const WHITE_SPACE = '[\\t\\n\\v\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]';
const WHITE_SPACE_AT_ENDS = new RegExp(`^${WHITE_SPACE}+|${WHITE_SPACE}+$`, 'g');

/** `text` without white space at either end, as Rust's `str::trim`. */
export const trimWhiteSpace = (text) => text.replace(WHITE_SPACE_AT_ENDS, '');

/** The bytes one character (a code point) adds to JSON.stringify's output, in UTF-8. */
export function jsonCharBytes(c) {
  const u = c.codePointAt(0);
  if ('"\\\n\r\t\b\f'.includes(c)) return 2;
  if (u < 0x20) return 6; // \u00XX
  if (u < 0x80) return 1;
  if (u < 0x800) return 2;
  if (u >= 0xd800 && u <= 0xdfff) return 6; // a lone surrogate, \udXXX
  return u < 0x10000 ? 3 : 4;
}
