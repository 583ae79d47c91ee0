//! The scenarios: screen size and what the painter does.

use anyhow::{Context, Result};

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Moving bars and the clock.
    Motion,
    /// A test pattern painted once; nothing changes.
    Static,
    /// The test pattern with only the clock changing (latency-bar.md's "static" figures).
    Clock,
}

pub struct Scenario {
    pub name: &'static str,
    pub label: &'static str,
    pub size: (u32, u32),
    pub kind: Kind,
    /// Run when no `--only` is given.
    pub default: bool,
}

pub const SCENARIOS: [Scenario; 4] = [
    Scenario {
        name: "1080-motion",
        label: "1920x1080 motion",
        size: (1920, 1080),
        kind: Kind::Motion,
        default: true,
    },
    Scenario {
        name: "1080-static",
        label: "1920x1080 static",
        size: (1920, 1080),
        kind: Kind::Static,
        default: true,
    },
    Scenario {
        name: "720-motion",
        label: "1280x720 motion",
        size: (1280, 720),
        kind: Kind::Motion,
        default: true,
    },
    Scenario {
        name: "1080-clock",
        label: "1920x1080 static + clock",
        size: (1920, 1080),
        kind: Kind::Clock,
        default: false,
    },
];

/// The scenarios `--only` names (comma-separated or repeated), or the default ones.
pub fn select(only: &[String]) -> Result<Vec<&'static Scenario>> {
    if only.is_empty() {
        return Ok(SCENARIOS.iter().filter(|s| s.default).collect());
    }
    let names: Vec<&str> = SCENARIOS.iter().map(|s| s.name).collect();
    only.iter()
        .flat_map(|o| o.split(','))
        .map(|o| {
            SCENARIOS
                .iter()
                .find(|s| s.name == o.trim())
                .with_context(|| format!("no scenario {o:?}; there are: {}", names.join(", ")))
        })
        .collect()
}
