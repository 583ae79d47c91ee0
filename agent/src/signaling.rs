//! The agent's connection to its signaling server, kept up: when it is lost (the server went
//! away, cut this agent off, or a send failed), the agent connects and registers again after a
//! back-off ([`tether_session::Backoff`]) instead of exiting.
//!
//! The caller says when a new connection is welcome: not while a session streams on without
//! the server, whose viewer was paired on the old connection (a new registration would let a
//! second viewer pair meanwhile).

use std::time::{Duration, Instant};

use tether_proto::signal::{ClientMsg, Role, ServerMsg};
use tether_session::{AGENT_BACKOFF, Backoff};
use tether_signal_client::client::{
    ClientError, ClientOptions, SignalClient, SignalReceiver, SignalSender,
};
use tokio::task::JoinHandle;

/// How long one attempt (TCP, TLS, WebSocket handshake, hello) may take.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest wait a server's `retry_after_secs` can impose.
const MAX_HINT: Duration = Duration::from_secs(300);

/// Where and as whom to register.
#[derive(Clone)]
pub struct Registration {
    pub server: String,
    pub options: ClientOptions,
    pub name: String,
}

/// What happened on the link.
#[derive(Debug)]
pub enum LinkEvent {
    Message(ServerMsg),
    /// The connection went; the next attempt is due in `retry_in`.
    Lost {
        why: String,
        retry_in: Duration,
    },
    /// An attempt failed; the next one is due in `retry_in`.
    AttemptFailed {
        why: String,
        retry_in: Duration,
    },
    /// Connected again and hello sent; the new code follows as a message.
    Reconnected,
}

enum State {
    Up {
        tx: SignalSender,
        rx: SignalReceiver,
    },
    /// A send failed; the next [`ServerLink::next`] reports the loss.
    Broken(String),
    Down {
        retry_at: tokio::time::Instant,
    },
    /// An attempt runs as its own task, so the loop's other events do not cancel it.
    Connecting(JoinHandle<Result<SignalClient, String>>),
}

/// The connection to the server, or the plan to get it back.
pub struct ServerLink {
    registration: Registration,
    state: State,
    backoff: Backoff,
    /// The server's own wait (`retry_after_secs`) for the next attempt, if it gave one.
    hint: Option<Duration>,
}

impl ServerLink {
    /// The first registration; its failure is the caller's (a wrong address should say so at
    /// once rather than retry for ever).
    pub async fn connect(registration: Registration) -> anyhow::Result<Self> {
        let client = register(&registration).await?;
        let (tx, rx) = client.split();
        let state = State::Up { tx, rx };
        Ok(ServerLink { registration, state, backoff: AGENT_BACKOFF, hint: None })
    }

    /// Whether a connection is up.
    pub fn is_up(&self) -> bool {
        matches!(self.state, State::Up { .. })
    }

    /// The next message or change; a new connection is attempted only if `may_connect`.
    /// Cancel-safe: the loop polls it beside its other events.
    pub async fn next(&mut self, may_connect: bool) -> LinkEvent {
        loop {
            match &mut self.state {
                State::Up { rx, .. } => {
                    let received = rx.recv().await;
                    return match received {
                        Ok(msg) => {
                            self.note(&msg);
                            LinkEvent::Message(msg)
                        }
                        Err(err) => self.lost(describe(err)),
                    };
                }
                State::Broken(why) => {
                    let why = std::mem::take(why);
                    return self.lost(why);
                }
                State::Down { retry_at } => {
                    if !may_connect {
                        return std::future::pending().await;
                    }
                    tokio::time::sleep_until(*retry_at).await;
                    let registration = self.registration.clone();
                    let attempt = async move { register(&registration).await.map_err(describe) };
                    self.state = State::Connecting(tokio::spawn(attempt));
                }
                State::Connecting(attempt) => {
                    let outcome = attempt.await;
                    let why = match outcome {
                        Ok(Ok(client)) => {
                            let (tx, rx) = client.split();
                            self.state = State::Up { tx, rx };
                            return LinkEvent::Reconnected;
                        }
                        Ok(Err(why)) => why,
                        Err(err) => format!("the attempt failed: {err}"),
                    };
                    let retry_in = self.schedule();
                    return LinkEvent::AttemptFailed { why, retry_in };
                }
            }
        }
    }

    /// Sends `msg` if connected; a failure counts as a loss, reported by the next
    /// [`ServerLink::next`]. Without a connection there is nobody to tell: dropped.
    pub async fn send(&mut self, msg: &ClientMsg) {
        let State::Up { tx, .. } = &mut self.state else {
            tracing::debug!(kind = msg.kind(), "not connected to the server; not sent");
            return;
        };
        if let Err(err) = tx.send(msg).await {
            self.state = State::Broken(describe(err));
        }
    }

    /// Closes the connection, or gives up the attempt under way.
    pub async fn close(&mut self) {
        match &mut self.state {
            State::Up { tx, .. } => tx.close().await,
            State::Connecting(attempt) => attempt.abort(),
            State::Broken(_) | State::Down { .. } => {}
        }
    }

    /// Registration succeeded once a code comes. An error's wait counts only if the
    /// connection ends right after it (the error was why).
    fn note(&mut self, msg: &ServerMsg) {
        if let ServerMsg::Code(_) = msg {
            self.backoff.connected(Instant::now());
        }
        self.hint = match msg {
            ServerMsg::Error(err) => {
                err.retry_after_secs.map(|s| Duration::from_secs(s).min(MAX_HINT))
            }
            _ => None,
        };
    }

    fn lost(&mut self, why: String) -> LinkEvent {
        let retry_in = self.schedule();
        LinkEvent::Lost { why, retry_in }
    }

    /// Drops the connection (if any) and plans the next attempt.
    fn schedule(&mut self) -> Duration {
        let wait = self.backoff.failed(Instant::now(), jitter());
        let wait = wait.max(self.hint.take().unwrap_or_default());
        self.state = State::Down { retry_at: tokio::time::Instant::now() + wait };
        wait
    }
}

/// Connects and says hello, within [`ATTEMPT_TIMEOUT`].
async fn register(registration: &Registration) -> anyhow::Result<SignalClient> {
    let attempt = async {
        let mut client = SignalClient::connect(&registration.server, &registration.options).await?;
        client.hello(Role::Agent, &registration.name).await?;
        Ok::<_, ClientError>(client)
    };
    match tokio::time::timeout(ATTEMPT_TIMEOUT, attempt).await {
        Ok(result) => Ok(result?),
        Err(_) => anyhow::bail!("the server did not answer within {ATTEMPT_TIMEOUT:?}"),
    }
}

/// The error with its causes, in one sentence.
fn describe(err: impl Into<anyhow::Error>) -> String {
    format!("{:#}", err.into())
}

/// A number in `0..=1` from the OS's random source.
fn jitter() -> f64 {
    use rand_core::RngCore;
    f64::from(rand_core::OsRng.next_u32()) / f64::from(u32::MAX)
}
