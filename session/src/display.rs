//! Text from the network made safe to show to a person. A consent prompt must say what it
//! looks like it says: a viewer's name could otherwise carry bidi controls that reorder what
//! follows (`Sam\u{202E}gnp.exe` shows as `Samexe.png`), invisible characters, line breaks
//! that fake a second line, or enough text to push the question out of the window.

/// Longest name shown, in characters (the cut one ends with `…`).
pub const MAX_NAME_CHARS: usize = 64;

/// `name` as a prompt may show it: whitespace runs folded into one space and trimmed;
/// control, format (Unicode `Cf`: bidi controls, zero-width characters, tags) and invisible
/// filler characters replaced, each run by one U+FFFD; at most [`MAX_NAME_CHARS`] characters.
pub fn display_name(name: &str) -> String {
    let mut out = String::new();
    let (mut space, mut replaced) = (false, false);
    for c in name.chars() {
        if c.is_whitespace() {
            space = !out.is_empty();
            continue;
        }
        let refused = is_hidden(c);
        if refused && replaced && !space {
            continue;
        }
        if space {
            out.push(' ');
            space = false;
        }
        out.push(if refused { char::REPLACEMENT_CHARACTER } else { c });
        replaced = refused;
    }
    clip(out, MAX_NAME_CHARS)
}

/// Characters that show as nothing, or change how their neighbours show.
fn is_hidden(c: char) -> bool {
    c.is_control() || is_format(c) || INVISIBLE_FILLERS.contains(&c)
}

/// Letters that render blank (Hangul fillers), a classic way to fake an empty or spaced name.
const INVISIBLE_FILLERS: [char; 4] = ['\u{115F}', '\u{1160}', '\u{3164}', '\u{FFA0}'];

/// Unicode's `Cf` (format) category, Unicode 15.1.
fn is_format(c: char) -> bool {
    const RANGES: &[(u32, u32)] = &[
        (0x00AD, 0x00AD),   // soft hyphen
        (0x0600, 0x0605),   // Arabic number signs
        (0x061C, 0x061C),   // Arabic letter mark
        (0x06DD, 0x06DD),   // Arabic end of ayah
        (0x070F, 0x070F),   // Syriac abbreviation mark
        (0x0890, 0x0891),   // Arabic pound and piastre marks above
        (0x08E2, 0x08E2),   // Arabic disputed end of ayah
        (0x180E, 0x180E),   // Mongolian vowel separator
        (0x200B, 0x200F),   // zero-width space, (non-)joiner, LRM, RLM
        (0x202A, 0x202E),   // bidi embeddings and overrides
        (0x2060, 0x2064),   // word joiner, invisible operators
        (0x2066, 0x206F),   // bidi isolates, deprecated format characters
        (0xFEFF, 0xFEFF),   // zero-width no-break space (BOM)
        (0xFFF9, 0xFFFB),   // interlinear annotation
        (0x110BD, 0x110BD), // Kaithi number sign
        (0x110CD, 0x110CD), // Kaithi number sign above
        (0x13430, 0x1343F), // Egyptian hieroglyph format controls
        (0x1BCA0, 0x1BCA3), // shorthand format controls
        (0x1D173, 0x1D17A), // musical symbol format controls
        (0xE0001, 0xE0001), // language tag
        (0xE0020, 0xE007F), // tag characters
    ];
    let c = u32::from(c);
    RANGES.iter().any(|&(first, last)| (first..=last).contains(&c))
}

/// At most `max` characters of `text`, the last one `…` if it was cut.
fn clip(text: String, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text,
        Some(_) => {
            let keep: String = text.chars().take(max.saturating_sub(1)).collect();
            format!("{}…", keep.trim_end())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_names_are_kept() {
        for name in ["Sam", "Sam from IT", "Zoë Ødegård", "田中さん", "سامي", "🦀 Ana"]
        {
            assert_eq!(display_name(name), name);
        }
        assert_eq!(display_name(""), "");
    }

    #[test]
    fn bidi_and_zero_width_characters_are_replaced() {
        assert_eq!(display_name("Sam\u{202E}gnp.exe"), "Sam\u{FFFD}gnp.exe");
        assert_eq!(display_name("\u{2066}Admin\u{2069}"), "\u{FFFD}Admin\u{FFFD}");
        assert_eq!(display_name("Ad\u{200B}min"), "Ad\u{FFFD}min");
        // A run of them is one replacement.
        assert_eq!(display_name("a\u{202A}\u{202B}\u{2067}\u{FEFF}b"), "a\u{FFFD}b");
        for c in ['\u{AD}', '\u{61C}', '\u{200E}', '\u{200F}', '\u{206F}', '\u{E0041}'] {
            assert_eq!(display_name(&format!("x{c}y")), "x\u{FFFD}y", "{:04X}", u32::from(c));
        }
        // Blank Hangul fillers cannot fake an empty name.
        assert_eq!(display_name("\u{3164}"), "\u{FFFD}");
    }

    #[test]
    fn control_characters_go_and_whitespace_is_one_space() {
        assert_eq!(display_name("Sam\u{7}\u{1B}[31m"), "Sam\u{FFFD}[31m");
        assert_eq!(display_name("\u{9B}31mSam"), "\u{FFFD}31mSam", "C1 controls too");
        assert_eq!(display_name("  Sam \n\t from\u{2028}IT  "), "Sam from IT");
        assert_eq!(display_name("Sam\r\nAllowed: yes"), "Sam Allowed: yes");
    }

    #[test]
    fn long_names_are_cut_by_characters() {
        let long = "é".repeat(500);
        let shown = display_name(&long);
        assert_eq!(shown.chars().count(), MAX_NAME_CHARS);
        assert!(shown.ends_with('…'));
        assert_eq!(display_name(&"a".repeat(MAX_NAME_CHARS)), "a".repeat(MAX_NAME_CHARS));
        let cut_at_a_space = format!("{} tail", "a".repeat(MAX_NAME_CHARS - 2));
        assert_eq!(display_name(&cut_at_a_space), format!("{}…", "a".repeat(MAX_NAME_CHARS - 2)));
    }
}
