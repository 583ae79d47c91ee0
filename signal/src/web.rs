//! The browser viewer: its page, style and ES modules compiled into the binary and served at
//! `/`, so the signaling server (and the agent's embedded one) needs nothing beside it. Only
//! the files named here are served: not `web/test/` (the modules' unit tests, run by
//! `node --test signal/web/test/`) nor `web/package.json`.

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// Only our own scripts, style and WebSocket; no inline code, no frames, no plugins. Module
/// scripts and their imports from this origin are `'self'`.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; media-src 'self' blob:; connect-src 'self'; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const INDEX_HTML: &str = include_str!("../web/index.html");
const STYLE_CSS: &str = include_str!("../web/style.css");

const JAVASCRIPT: &str = "text/javascript; charset=utf-8";

/// The page's ES modules by URL path: `main.js` is the entry (index.html) and imports the rest.
const MODULES: [(&str, &str); 14] = [
    ("/main.js", include_str!("../web/main.js")),
    ("/protocol.js", include_str!("../web/protocol.js")),
    ("/session.js", include_str!("../web/session.js")),
    ("/stats.js", include_str!("../web/stats.js")),
    ("/view.js", include_str!("../web/view.js")),
    ("/input.js", include_str!("../web/input.js")),
    ("/sas.js", include_str!("../web/sas.js")),
    ("/text.js", include_str!("../web/text.js")),
    ("/clipboard.js", include_str!("../web/clipboard.js")),
    ("/chat.js", include_str!("../web/chat.js")),
    ("/chatview.js", include_str!("../web/chatview.js")),
    ("/sha256.js", include_str!("../web/sha256.js")),
    ("/files.js", include_str!("../web/files.js")),
    ("/filesview.js", include_str!("../web/filesview.js")),
];

/// The routes of the browser viewer, to merge into the server's router.
pub(crate) fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let mut router = Router::new()
        .route("/", get(|| async { asset(INDEX_HTML, "text/html; charset=utf-8") }))
        .route("/style.css", get(|| async { asset(STYLE_CSS, "text/css; charset=utf-8") }))
        // Browsers ask for it on their own; nothing to show, and no 404 in the console.
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }));
    for (path, source) in MODULES {
        router = router.route(path, get(move || async move { asset(source, JAVASCRIPT) }));
    }
    router
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers
        .insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    // The page is small and changes with the binary: always ask again.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}
