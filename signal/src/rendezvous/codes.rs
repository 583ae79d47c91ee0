//! A code's life: issued to an agent, expired when unused for the TTL (a new one is issued),
//! remembered for a while after it expired or was replaced, so a late join hears `expired`
//! rather than `unknown_code`.

use std::time::Instant;

use tether_proto::SessionCode;
use tether_proto::signal::{CodeIssued, ServerMsg};

use super::{Action, Agent, ConnId, MAX_RETIRED_CODES, Now, Rendezvous};

impl Rendezvous {
    pub(super) fn handle_tick(&mut self, now: Now, out: &mut Vec<Action>) {
        while let Some(&(at, code)) = self.expiries.first() {
            if at > now.mono {
                break;
            }
            self.expiries.remove(&(at, code));
            let Some(agent) = self.agents.get(&code) else { continue };
            let conn = agent.conn;
            tracing::info!(code = %code.masked(), "code expired unused; issuing a new one");
            self.retire(now.mono, code);
            self.issue_code(now, conn, out);
        }
        while let Some(&(until, code)) = self.retired.front() {
            if until > now.mono {
                break;
            }
            self.retired.pop_front();
            if self.retired_set.get(&code) == Some(&until) {
                self.retired_set.remove(&code);
            }
        }
        if self.next_sweep.is_some_and(|t| t <= now.mono) {
            self.joins.sweep(now.mono);
            self.next_sweep = None;
            if self.joins.tracked() > 0 {
                self.schedule_sweep(now.mono);
            }
        }
    }

    pub(super) fn issue_code(&mut self, now: Now, conn: ConnId, out: &mut Vec<Action>) {
        let code = loop {
            let candidate = SessionCode::generate(&mut *self.rng);
            if !self.agents.contains_key(&candidate) && !self.retired_set.contains_key(&candidate) {
                break candidate;
            }
        };
        let at = now.mono + self.config.code_ttl;
        self.agents
            .insert(code, Agent { conn, viewer: None, expires_at: Some(at), resume_token: None });
        self.expiries.insert((at, code));
        if let Some(state) = self.conns.get_mut(&conn) {
            state.code = Some(code);
        }
        tracing::info!(code = %code.masked(), conn = ?conn, "code issued");
        out.push(Action::Send(
            conn,
            ServerMsg::Code(CodeIssued {
                code,
                expires_in_secs: self.config.code_ttl.as_secs(),
                ice: self.config.ice.public_ice(),
            }),
        ));
    }

    /// Forgets `code` as a live code but remembers it as expired for a while.
    pub(super) fn retire(&mut self, now: Instant, code: SessionCode) {
        if let Some(agent) = self.agents.remove(&code) {
            if let Some(at) = agent.expires_at {
                self.expiries.remove(&(at, code));
            }
        }
        let until = now + self.config.expired_code_memory;
        self.retired.push_back((until, code));
        self.retired_set.insert(code, until);
        while self.retired.len() > MAX_RETIRED_CODES {
            if let Some((old_until, old)) = self.retired.pop_front() {
                if self.retired_set.get(&old) == Some(&old_until) {
                    self.retired_set.remove(&old);
                }
            }
        }
    }
}
