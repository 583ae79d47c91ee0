//! The browser viewer's files are served from the binary, with their types and a strict CSP.

mod common;

use common::TestServer;

fn header<'a>(response: &'a str, name: &str) -> Option<&'a str> {
    let head = response.split("\r\n\r\n").next()?;
    head.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

#[tokio::test]
async fn the_page_and_its_files_are_served_with_types_and_a_strict_policy() {
    let server = TestServer::default().await;
    for (path, content_type, marker) in [
        ("/", "text/html; charset=utf-8", "<form id=\"join-form\""),
        ("/app.js", "text/javascript; charset=utf-8", "function signalingUrl"),
        ("/style.css", "text/css; charset=utf-8", "#video"),
    ] {
        let response = server.get(path).await;
        assert!(response.starts_with("HTTP/1.1 200"), "{path}: {response}");
        assert_eq!(header(&response, "content-type"), Some(content_type), "{path}");
        assert_eq!(header(&response, "x-content-type-options"), Some("nosniff"), "{path}");
        let csp = header(&response, "content-security-policy").expect("a CSP");
        assert!(csp.starts_with("default-src 'none'"), "{csp}");
        assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe"), "{csp}");
        assert!(response.contains(marker), "{path} has its content");
    }
    assert!(server.get("/nothing-here").await.starts_with("HTTP/1.1 404"));
    server.shutdown().await;
}

#[tokio::test]
async fn the_page_has_no_inline_script_or_style() {
    let server = TestServer::default().await;
    let page = server.get("/").await;
    assert!(!page.contains("<script>") && !page.contains(" style=") && !page.contains("<style"));
    assert!(!page.contains("onclick="), "no inline handlers: the CSP would block them");
    server.shutdown().await;
}
