//! The toolbox channels' decoders: every clipboard, chat and file-transfer message a peer sends
//! goes through `ClipboardMsg::decode`, `ChatMsg::decode`, `FileMsg::decode` or
//! `TransferEnd::decode`, and every received file name through `safe_file_name`.
//!
//! Checks: no panic; what decodes is valid as documented (clipboard text within its limit and
//! free of control characters but tab, newline and CR; chat text trimmed-non-empty; transfer
//! ids of a-z, 0-9 and -; hashes of 64 lower-case hex digits) and re-encodes to the same value;
//! a saved name has no path separator, no leading dot, no control character and is not empty;
//! printed text has no control character.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tether_proto::chat::{ChatMsg, printable};
use tether_proto::clipboard::{ClipboardMsg, MAX_CLIPBOARD_TEXT_BYTES, is_clipboard_text};
use tether_proto::files::{FileMsg, TransferEnd, is_transfer_id};
use tether_session::files::safe_file_name;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(msg) = ClipboardMsg::decode(text) {
        if let ClipboardMsg::Text { text, .. } = &msg {
            assert!(text.len() <= MAX_CLIPBOARD_TEXT_BYTES && is_clipboard_text(text));
        }
        assert_eq!(ClipboardMsg::decode(&msg.encode()).as_ref(), Ok(&msg));
    }
    if let Ok(msg) = ChatMsg::decode(text) {
        assert!(!msg.text().trim().is_empty());
        assert_eq!(ChatMsg::decode(&msg.encode()).as_ref(), Ok(&msg));
    }
    if let Ok(msg) = FileMsg::decode(text) {
        assert!(is_transfer_id(msg.id()));
        assert_eq!(FileMsg::decode(&msg.encode()).as_ref(), Ok(&msg));
    }
    if let Some(hash) = TransferEnd::decode(text) {
        assert!(hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    }
    let name = safe_file_name(text);
    assert!(!name.is_empty() && !name.starts_with('.') && name.len() <= 200, "{name:?}");
    assert!(!name.contains(['/', '\\']) && !name.chars().any(char::is_control), "{name:?}");
    assert!(!printable(text).chars().any(char::is_control));
});
