//! Signaling messages: JSON text frames, one object each, tagged by `"type"`.
//!
//! [`ClientMsg`] is what agents and viewers send, [`ServerMsg`] what the server sends. The SDP,
//! candidate and bye messages are relayed between the two peers of a session unchanged, so they
//! appear in both. `docs/protocol.md` describes every message with an example.

use serde::{Deserialize, Serialize};

use crate::{ErrorCode, IceConfig, MAX_MESSAGE_BYTES, SessionCode};

/// Which end of a session a client is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The computer being helped: registers and receives a session code.
    Agent,
    /// Support staff: joins with a code.
    Viewer,
}

/// A message from an agent or a viewer to the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMsg {
    /// First message on every connection.
    Hello(Hello),
    /// Agent: drop the current code and issue a new one.
    NewCode,
    /// Viewer: ask for the agent that holds `code`.
    Join(Join),
    /// SDP offer, relayed to the peer.
    Offer(Sdp),
    /// SDP answer, relayed to the peer.
    Answer(Sdp),
    /// Trickled ICE candidate, relayed to the peer.
    Candidate(Candidate),
    /// A DTLS fingerprint for the short authentication string, relayed to the peer.
    Fingerprint(Fingerprint),
    /// End of the session, relayed to the peer.
    Bye(Bye),
}

/// A message from the server to an agent or a viewer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMsg {
    /// Agent: your (new) session code.
    Code(CodeIssued),
    /// Agent: a viewer joined with your code and waits for consent.
    PeerJoined(PeerJoined),
    /// Viewer: you are paired with the agent; wait for its offer.
    Joined(Joined),
    /// Relayed SDP offer.
    Offer(Sdp),
    /// Relayed SDP answer.
    Answer(Sdp),
    /// Relayed ICE candidate.
    Candidate(Candidate),
    /// Relayed DTLS fingerprint.
    Fingerprint(Fingerprint),
    /// The session ended: relayed from the peer, or sent by the server.
    Bye(Bye),
    /// Something failed; the connection stays open unless the code says otherwise.
    Error(ErrorMsg),
}

/// `hello`: protocol version, role and a display name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// Must be [`crate::PROTOCOL_VERSION`].
    pub version: u32,
    /// Agent or viewer.
    pub role: Role,
    /// Shown to the other side (the agent's host name, the supporter's name). Optional.
    #[serde(default)]
    pub name: String,
}

/// `join`: a viewer asks for the agent holding `code`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Join {
    /// The code as the person read it; spaces and dashes are allowed.
    pub code: SessionCode,
    /// Rejoining a session that ended (codes are single-use): the token its `joined` gave.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume: Option<String>,
    /// [`crate::commitment`] to the viewer's DTLS fingerprint, revealed after the agent's
    /// (`fingerprint`), so both can show the short authentication string before consent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
}

impl Join {
    /// A first join with a code the person read out.
    pub fn new(code: SessionCode) -> Self {
        Join { code, resume: None, commit: None }
    }
}

/// `fingerprint`: one side's DTLS certificate fingerprint, `sha-256 AB:CD:…`; the agent sends
/// its own on `peer_joined` when the viewer committed to one, the viewer then reveals its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// As in the SDP's `a=fingerprint:` line.
    pub fingerprint: String,
}

/// `offer` / `answer`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sdp {
    /// The session description.
    pub sdp: String,
}

/// `candidate`: one trickled candidate, or `null` for end of candidates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Candidate {
    /// As the browser's `RTCIceCandidate.toJSON()` gives it.
    pub candidate: Option<IceCandidate>,
}

/// `RTCIceCandidateInit`, with the browser's camelCase field names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceCandidate {
    /// The `candidate:` attribute line.
    pub candidate: String,
    /// Media stream identification tag.
    #[serde(rename = "sdpMid", default, skip_serializing_if = "Option::is_none")]
    pub sdp_mid: Option<String>,
    /// Index of the m-line.
    #[serde(rename = "sdpMLineIndex", default, skip_serializing_if = "Option::is_none")]
    pub sdp_mline_index: Option<u16>,
    /// ICE ufrag the candidate belongs to.
    #[serde(rename = "usernameFragment", default, skip_serializing_if = "Option::is_none")]
    pub username_fragment: Option<String>,
}

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ByeReason {
    /// The viewer hung up.
    Hangup,
    /// The person at the agent stopped sharing.
    Stopped,
    /// The person at the agent clicked Deny.
    Denied,
    /// Nobody answered the consent prompt in time.
    ConsentTimeout,
    /// The other side's connection to the server dropped.
    PeerLeft,
    /// ICE found no working candidate pair.
    IceFailed,
    /// The signaling server is shutting down.
    ServerShutdown,
    /// A reason this client does not know.
    #[serde(other)]
    Other,
}

/// `bye`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bye {
    /// Machine-readable reason.
    pub reason: ByeReason,
    /// Optional sentence for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// `code`: the agent's session code and the ICE servers to use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeIssued {
    /// The code to read to support staff.
    pub code: SessionCode,
    /// Seconds until the code expires if no viewer uses it. A new `code` follows then.
    pub expires_in_secs: u64,
    /// STUN/TURN servers, with fresh TURN credentials.
    pub ice: IceConfig,
}

/// `peer_joined`: who asks to see the agent's screen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerJoined {
    /// The name the viewer gave in its hello (sanitised, may be empty).
    pub name: String,
    /// The viewer's address as the server saw it.
    pub addr: String,
    /// STUN/TURN servers for this session, with TURN credentials made for it (a registered
    /// agent gets none before a viewer pairs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ice: Option<IceConfig>,
    /// The viewer's commitment to its fingerprint, from its `join`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
}

/// `joined`: the viewer is paired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Joined {
    /// The name the agent gave in its hello.
    pub agent_name: String,
    /// STUN/TURN servers, with fresh TURN credentials.
    pub ice: IceConfig,
    /// Lets this viewer rejoin if the session ends (the code itself is used up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume: Option<String>,
}

/// `error`: a typed failure with a sentence for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorMsg {
    /// Stable code to match on.
    pub code: ErrorCode,
    /// What happened and what to do, for people.
    pub message: String,
    /// With `rate_limited`: when to try again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_secs: Option<u64>,
}

impl ErrorMsg {
    /// An error with no retry hint.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ErrorMsg { code, message: message.into(), retry_after_secs: None }
    }
}

/// A frame that could not be decoded, with the wire code to answer it with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct DecodeError {
    /// `malformed`, `unknown_type` or `too_large`.
    pub code: ErrorCode,
    /// What was wrong.
    pub message: String,
}

impl From<DecodeError> for ErrorMsg {
    fn from(e: DecodeError) -> Self {
        ErrorMsg::new(e.code, e.message)
    }
}

const CLIENT_TYPES: &[&str] =
    &["hello", "new_code", "join", "offer", "answer", "candidate", "fingerprint", "bye"];
const SERVER_TYPES: &[&str] = &[
    "code",
    "peer_joined",
    "joined",
    "offer",
    "answer",
    "candidate",
    "fingerprint",
    "bye",
    "error",
];

impl ClientMsg {
    /// Decodes one text frame, classifying failures as the server reports them.
    pub fn decode(text: &str) -> Result<Self, DecodeError> {
        decode(text, CLIENT_TYPES)
    }

    /// The JSON text frame.
    pub fn encode(&self) -> String {
        encode(self)
    }

    /// The message as the server relays it to the peer, if it is a relayed kind.
    pub fn into_relayed(self) -> Option<ServerMsg> {
        match self {
            ClientMsg::Offer(m) => Some(ServerMsg::Offer(m)),
            ClientMsg::Answer(m) => Some(ServerMsg::Answer(m)),
            ClientMsg::Candidate(m) => Some(ServerMsg::Candidate(m)),
            ClientMsg::Fingerprint(m) => Some(ServerMsg::Fingerprint(m)),
            ClientMsg::Bye(m) => Some(ServerMsg::Bye(m)),
            ClientMsg::Hello(_) | ClientMsg::NewCode | ClientMsg::Join(_) => None,
        }
    }

    /// The `type` tag, for logs and error sentences.
    pub fn kind(&self) -> &'static str {
        match self {
            ClientMsg::Hello(_) => "hello",
            ClientMsg::NewCode => "new_code",
            ClientMsg::Join(_) => "join",
            ClientMsg::Offer(_) => "offer",
            ClientMsg::Answer(_) => "answer",
            ClientMsg::Candidate(_) => "candidate",
            ClientMsg::Fingerprint(_) => "fingerprint",
            ClientMsg::Bye(_) => "bye",
        }
    }
}

impl ServerMsg {
    /// Decodes one text frame from the server.
    pub fn decode(text: &str) -> Result<Self, DecodeError> {
        decode(text, SERVER_TYPES)
    }

    /// The JSON text frame.
    pub fn encode(&self) -> String {
        encode(self)
    }

    /// Shorthand for an `error` message with no retry hint.
    pub fn error(code: ErrorCode, message: impl Into<String>) -> Self {
        ServerMsg::Error(ErrorMsg::new(code, message))
    }
}

fn encode<T: Serialize>(msg: &T) -> String {
    // Cannot fail: the message types hold only strings, numbers and string-keyed structs.
    serde_json::to_string(msg).expect("signaling messages always serialise")
}

/// Only the tag, to tell an unknown type from a malformed known one.
#[derive(Deserialize)]
struct TypeProbe {
    #[serde(rename = "type")]
    kind: Option<serde_json::Value>,
}

fn decode<T: for<'de> Deserialize<'de>>(text: &str, known: &[&str]) -> Result<T, DecodeError> {
    let fail = |code, message: String| DecodeError { code, message };
    if text.len() > MAX_MESSAGE_BYTES {
        return Err(fail(
            ErrorCode::TooLarge,
            format!("frame of {} bytes; the limit is {MAX_MESSAGE_BYTES}", text.len()),
        ));
    }
    match serde_json::from_str::<T>(text) {
        Ok(msg) => Ok(msg),
        Err(err) => {
            let probe = serde_json::from_str::<TypeProbe>(text).map_err(|e| {
                fail(ErrorCode::Malformed, format!("not a JSON object: {}", clip(e)))
            })?;
            match probe.kind {
                None => Err(fail(ErrorCode::Malformed, "no \"type\" field".into())),
                Some(serde_json::Value::String(kind)) if !known.contains(&kind.as_str()) => {
                    Err(fail(
                        ErrorCode::UnknownType,
                        format!("unknown message type {:?}", truncate(&kind)),
                    ))
                }
                Some(serde_json::Value::String(kind)) => Err(fail(
                    ErrorCode::Malformed,
                    format!("bad {:?} message: {}", truncate(&kind), clip(err)),
                )),
                Some(_) => Err(fail(ErrorCode::Malformed, "\"type\" must be a string".into())),
            }
        }
    }
}

/// Keeps error sentences short when a client sends a huge type name.
fn truncate(s: &str) -> &str {
    match s.char_indices().nth(40) {
        Some((at, _)) => &s[..at],
        None => s,
    }
}

/// serde's sentence, cut short: it quotes the offending value (`invalid type: string "…"`),
/// which would echo up to a whole frame back to the client, past the frame limit.
fn clip(err: serde_json::Error) -> String {
    const MAX_CHARS: usize = 200;
    let sentence = err.to_string();
    match sentence.char_indices().nth(MAX_CHARS) {
        Some((at, _)) => format!("{}…", &sentence[..at]),
        None => sentence,
    }
}

/// Longest display name kept, in characters.
pub const MAX_NAME_CHARS: usize = 64;

/// A display name made safe to show in a consent prompt or a log: control characters removed,
/// whitespace runs folded, at most [`MAX_NAME_CHARS`] characters.
pub fn sanitize_name(name: &str) -> String {
    let mut out = String::new();
    for word in name.split(|c: char| c.is_whitespace() || c.is_control()).filter(|w| !w.is_empty())
    {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out.chars().take(MAX_NAME_CHARS).collect()
}

#[cfg(test)]
mod tests;
