//! Which web pages may open `/ws`. Browsers let any page open a WebSocket anywhere, carrying
//! the person's network position with it: a page on the Internet could reach the agent's
//! embedded server on loopback, register agents or guess codes. Browsers always send
//! `Origin`; native clients (the agent, `tether-viewer`) send none.

/// Whether a WebSocket request with these headers is accepted: no `Origin` (not a browser),
/// the origin of this server's own page (its authority is the request's `Host`), or one of
/// `allowed` (exact origins such as `https://support.example.org`).
pub fn origin_allowed(origin: Option<&str>, host: Option<&str>, allowed: &[String]) -> bool {
    let Some(origin) = origin else { return true };
    if allowed.iter().any(|a| a.trim_end_matches('/').eq_ignore_ascii_case(origin)) {
        return true;
    }
    let authority = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .filter(|rest| !rest.is_empty() && !rest.contains('/'));
    match (authority, host) {
        (Some(authority), Some(host)) => authority.eq_ignore_ascii_case(host),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn native_clients_and_the_servers_own_page_are_accepted() {
        assert!(origin_allowed(None, Some("127.0.0.1:7878"), &[]));
        let own = Some("http://127.0.0.1:7878");
        assert!(origin_allowed(own, Some("127.0.0.1:7878"), &[]));
        let tls = Some("https://Support.Example.org");
        assert!(origin_allowed(tls, Some("support.example.org"), &[]));
    }

    #[test]
    fn other_pages_are_refused_unless_allowed() {
        let host = Some("127.0.0.1:7878");
        for origin in [
            "http://evil.example",
            "http://127.0.0.1:8080",
            "null",
            "file://",
            "http://127.0.0.1:7878/x",
            "",
        ] {
            assert!(!origin_allowed(Some(origin), host, &[]), "{origin}");
        }
        assert!(!origin_allowed(Some("http://127.0.0.1:7878"), None, &[]));
        let allowed = ["https://desk.example.org/".to_owned()];
        assert!(origin_allowed(Some("https://desk.example.org"), host, &allowed));
    }
}
