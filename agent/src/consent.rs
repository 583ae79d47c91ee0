//! Asking the person at the computer whether a viewer may see the screen.
//!
//! Until the tray exists this asks on the terminal; `--auto-allow` skips the question for tests
//! and benchmarks. Without a terminal and without `--auto-allow` every viewer is denied: nothing
//! is ever shared without a yes.

use std::io::{BufRead, IsTerminal, Write};
use std::time::Duration;

use tether_proto::signal::PeerJoined;

/// How long the question waits for an answer before it counts as a no.
pub const CONSENT_TIMEOUT: Duration = Duration::from_secs(60);

/// The answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny,
    TimedOut,
}

/// How consent is obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentMode {
    /// Every viewer is allowed without asking.
    AutoAllow,
    /// Ask on the terminal.
    Terminal,
}

/// Asks for consent for `peer` and waits for the answer.
pub async fn ask(mode: ConsentMode, peer: &PeerJoined) -> Decision {
    match mode {
        ConsentMode::AutoAllow => {
            tracing::warn!(name = %peer.name, addr = %peer.addr, "--auto-allow: allowing the viewer without asking");
            Decision::Allow
        }
        ConsentMode::Terminal if std::io::stdin().is_terminal() => {
            let question = format!(
                "{} ({}) asks to see this screen. Allow? [y/N] ",
                if peer.name.is_empty() { "A viewer" } else { &peer.name },
                peer.addr
            );
            let answer = tokio::task::spawn_blocking(move || {
                print!("{question}");
                let _ = std::io::stdout().flush();
                let mut line = String::new();
                std::io::stdin().lock().read_line(&mut line).map(|_| line)
            });
            match tokio::time::timeout(CONSENT_TIMEOUT, answer).await {
                Ok(Ok(Ok(line))) => parse_answer(&line),
                Ok(_) => Decision::Deny,
                Err(_) => Decision::TimedOut,
            }
        }
        ConsentMode::Terminal => {
            tracing::warn!(
                "a viewer asked to connect, but there is no terminal to ask on; denied (run with --auto-allow to allow every viewer)"
            );
            Decision::Deny
        }
    }
}

fn parse_answer(line: &str) -> Decision {
    match line.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" => Decision::Allow,
        _ => Decision::Deny,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_explicit_yes_allows() {
        assert_eq!(parse_answer("y\n"), Decision::Allow);
        assert_eq!(parse_answer(" YES "), Decision::Allow);
        for no in ["", "\n", "n", "no", "yep", "sure"] {
            assert_eq!(parse_answer(no), Decision::Deny, "{no:?}");
        }
    }

    #[tokio::test]
    async fn auto_allow_allows() {
        let peer = PeerJoined { name: "Sam".into(), addr: "127.0.0.1".into() };
        assert_eq!(ask(ConsentMode::AutoAllow, &peer).await, Decision::Allow);
    }
}
