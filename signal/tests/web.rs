//! The browser viewer's files are served from the binary, with their types and a strict CSP:
//! the page, its style and every ES module of `signal/web/`, and nothing else from there.

mod common;

use std::path::{Path, PathBuf};

use common::TestServer;

fn header<'a>(response: &'a str, name: &str) -> Option<&'a str> {
    let head = response.split("\r\n\r\n").next()?;
    head.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

fn body(response: &str) -> &str {
    response.split_once("\r\n\r\n").map_or("", |(_, body)| body)
}

fn web_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("web")
}

/// The page's modules: every `.js` file directly in `signal/web/`, by name.
fn module_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(web_dir())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".js"))
        .collect();
    names.sort();
    names
}

/// The same headers on every file of the page.
fn assert_served(response: &str, path: &str, content_type: &str) {
    assert!(response.starts_with("HTTP/1.1 200"), "{path}: {response}");
    assert_eq!(header(response, "content-type"), Some(content_type), "{path}");
    assert_eq!(header(response, "x-content-type-options"), Some("nosniff"), "{path}");
    assert_eq!(header(response, "referrer-policy"), Some("no-referrer"), "{path}");
    assert_eq!(header(response, "cache-control"), Some("no-cache"), "{path}");
    let csp = header(response, "content-security-policy").expect("a CSP");
    assert!(csp.starts_with("default-src 'none'"), "{csp}");
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe"), "{csp}");
}

#[tokio::test]
async fn the_page_and_its_files_are_served_with_types_and_a_strict_policy() {
    let server = TestServer::default().await;
    for (path, content_type, marker) in [
        ("/", "text/html; charset=utf-8", "<form id=\"join-form\""),
        ("/style.css", "text/css; charset=utf-8", "#video"),
    ] {
        let response = server.get(path).await;
        assert_served(&response, path, content_type);
        assert!(response.contains(marker), "{path} has its content");
    }
    assert!(server.get("/nothing-here").await.starts_with("HTTP/1.1 404"));
    server.shutdown().await;
}

#[tokio::test]
async fn every_module_is_served_as_javascript_exactly_as_written() {
    let names = module_names();
    for expected in ["main.js", "protocol.js", "session.js", "view.js", "input.js"] {
        assert!(names.iter().any(|n| n == expected), "{expected} in {names:?}");
    }
    let server = TestServer::default().await;
    for name in &names {
        let path = format!("/{name}");
        let response = server.get(&path).await;
        assert_served(&response, &path, "text/javascript; charset=utf-8");
        let source = std::fs::read_to_string(web_dir().join(name)).unwrap();
        assert_eq!(body(&response), source, "{path} is the file");
        // Every module it imports is one of the served ones.
        for import in source.split(" from './").skip(1) {
            let imported = import.split('\'').next().unwrap_or_default();
            assert!(names.iter().any(|n| n == imported), "{name} imports {imported}: not served");
        }
    }
    server.shutdown().await;
}

#[tokio::test]
async fn the_page_loads_its_entry_as_a_module_and_nothing_inline() {
    let server = TestServer::default().await;
    let page = server.get("/").await;
    assert!(page.contains("<script type=\"module\" src=\"main.js\"></script>"), "{page}");
    assert_eq!(page.matches("<script").count(), 1, "one entry; it imports the rest");
    assert!(!page.contains("<script>") && !page.contains(" style=") && !page.contains("<style"));
    assert!(!page.contains("onclick="), "no inline handlers: the CSP would block them");
    server.shutdown().await;
}

#[tokio::test]
async fn the_unit_tests_and_package_file_are_not_served() {
    let tests: Vec<String> = std::fs::read_dir(web_dir().join("test"))
        .expect("signal/web/test/")
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(!tests.is_empty());
    let server = TestServer::default().await;
    let mut paths: Vec<String> = tests.iter().map(|name| format!("/test/{name}")).collect();
    paths.extend(tests.iter().map(|name| format!("/{name}")));
    paths.extend(["/test/".into(), "/package.json".into()]);
    for path in paths {
        let response = server.get(&path).await;
        assert!(response.starts_with("HTTP/1.1 404"), "{path}: {response}");
    }
    server.shutdown().await;
}

/// Opens `/ws` with these extra request headers; the HTTP status of the answer.
async fn ws_status(server: &TestServer, extra: &[(&'static str, &str)]) -> u16 {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = format!("{}/ws", server.url).into_client_request().unwrap();
    for (name, value) in extra {
        request.headers_mut().insert(*name, value.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((_, response)) => response.status().as_u16(),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(other) => panic!("{other}"),
    }
}

#[tokio::test]
async fn only_this_servers_own_page_may_open_the_websocket() {
    // The attack: any web page the person (or the supporter) visits can script a WebSocket to
    // the agent's embedded server on 127.0.0.1 and register agents or guess codes.
    let server = TestServer::default().await;
    let own = format!("http://{}", server.addr);
    assert_eq!(ws_status(&server, &[]).await, 101, "native clients send no Origin");
    assert_eq!(ws_status(&server, &[("origin", &own)]).await, 101, "the page it serves");
    assert_eq!(ws_status(&server, &[("origin", "http://evil.example")]).await, 403);
    assert_eq!(ws_status(&server, &[("origin", "null")]).await, 403);

    let config = tether_signal::Config {
        allowed_origins: vec!["https://desk.example.org".into()],
        ..tether_signal::Config::default()
    };
    let server = TestServer::start(config).await;
    assert_eq!(ws_status(&server, &[("origin", "https://desk.example.org")]).await, 101);
    assert_eq!(ws_status(&server, &[("origin", "https://other.example.org")]).await, 403);
}
