//! Every JSON example in docs/protocol.md decodes as the message it documents, so the page
//! cannot drift from the code.

use tether_proto::chat::ChatMsg;
use tether_proto::clipboard::ClipboardMsg;
use tether_proto::display::DisplayMsg;
use tether_proto::files::FileMsg;
use tether_proto::input::InputMsg;
use tether_proto::signal::{ClientMsg, ServerMsg};

#[test]
fn every_example_in_the_protocol_page_decodes() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/protocol.md");
    let page = std::fs::read_to_string(path).expect("docs/protocol.md exists");
    let mut examples = 0;
    for block in page.split("```json").skip(1) {
        let body = block.split("```").next().unwrap_or_default();
        for value in serde_json::Deserializer::from_str(body).into_iter::<serde_json::Value>() {
            let value = value.unwrap_or_else(|e| panic!("bad JSON in an example: {e}\n{body}"));
            let text = value.to_string();
            let as_client = ClientMsg::decode(&text);
            let as_server = ServerMsg::decode(&text);
            let as_input = InputMsg::decode(&text);
            let as_channel = ClipboardMsg::decode(&text).is_ok()
                || ChatMsg::decode(&text).is_ok()
                || FileMsg::decode(&text).is_ok()
                || DisplayMsg::decode(&text).is_ok();
            assert!(
                as_client.is_ok() || as_server.is_ok() || as_input.is_ok() || as_channel,
                "{text}\nclient: {as_client:?}\nserver: {as_server:?}\ninput: {as_input:?}"
            );
            examples += 1;
        }
    }
    assert!(examples >= 30, "only {examples} examples found");
}
