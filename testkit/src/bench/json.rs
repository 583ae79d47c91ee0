//! Numbers and strings by key from a flat JSON object (the `result:` line of
//! e2e/browser/bench.mjs), without a JSON library: the testkit has none, and the line is ours.

/// The raw text after `"key":`, whitespace trimmed, or `None`.
fn after_key<'a>(json: &'a str, key: &str) -> Option<&'a str> {
    let needle = format!("\"{key}\":");
    let start = json.find(&needle)? + needle.len();
    Some(json[start..].trim_start())
}

/// The number at `key`; `None` if absent, `null` or not a finite number.
pub fn number(json: &str, key: &str) -> Option<f64> {
    let rest = after_key(json, key)?;
    let end = rest.find(|c: char| !matches!(c, '0'..='9' | '-' | '+' | '.' | 'e' | 'E'))?;
    rest[..end].parse::<f64>().ok().filter(|v| v.is_finite())
}

/// The string at `key`, unescaped (`\uXXXX` outside the BMP comes out as U+FFFD).
pub fn string(json: &str, key: &str) -> Option<String> {
    let rest = after_key(json, key)?.strip_prefix('"')?;
    let mut out = String::new();
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(out),
            '\\' => match chars.next()? {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                'b' | 'f' => {}
                'u' => {
                    let hex: String = chars.by_ref().take(4).collect();
                    let code = u32::from_str_radix(&hex, 16).ok()?;
                    out.push(char::from_u32(code).unwrap_or('\u{fffd}'));
                }
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_objects_are_read_by_key() {
        let json = r#"{"mode":"gst","fps":57.9,"jitterMs":1.5e1,"decoder":null,"n":0,"error":"a \"b\"\nc\u00e9","last":-2}"#;
        assert_eq!(number(json, "fps"), Some(57.9));
        assert_eq!(number(json, "jitterMs"), Some(15.0));
        assert_eq!(number(json, "n"), Some(0.0));
        assert_eq!(number(json, "last"), Some(-2.0));
        assert_eq!(number(json, "decoder"), None);
        assert_eq!(number(json, "missing"), None);
        assert_eq!(number(json, "mode"), None);
        assert_eq!(string(json, "mode").as_deref(), Some("gst"));
        assert_eq!(string(json, "error").as_deref(), Some("a \"b\"\ncé"));
        assert_eq!(string(json, "decoder"), None);
        assert_eq!(string(r#"{"x":"unterminated"#, "x"), None);
    }
}
