//! The keymap as data: `{ on, run, desc }` entries, defaults embedded, user overrides merged
//! from `keymap.toml` in the config directory. A bad entry is a warning, never a crash. The
//! help overlay is generated from the same entries.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde::Deserialize;

/// What a key does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Quit,
    Up,
    Down,
    Top,
    Bottom,
    PageUp,
    PageDown,
    NextPane,
    PrevPane,
    Enter,
    Back,
    Filter,
    Command,
    Help,
    Theme,
    Export,
    Sort,
    DetailTab,
    Forward,
    OpenBrowser,
    StopForward,
    Fix,
    Undo,
}

impl Action {
    pub const ALL: [(Action, &'static str); 23] = [
        (Self::Quit, "quit"),
        (Self::Up, "up"),
        (Self::Down, "down"),
        (Self::Top, "top"),
        (Self::Bottom, "bottom"),
        (Self::PageUp, "page_up"),
        (Self::PageDown, "page_down"),
        (Self::NextPane, "next_pane"),
        (Self::PrevPane, "prev_pane"),
        (Self::Enter, "enter"),
        (Self::Back, "back"),
        (Self::Filter, "filter"),
        (Self::Command, "command"),
        (Self::Help, "help"),
        (Self::Theme, "theme"),
        (Self::Export, "export"),
        (Self::Sort, "sort"),
        (Self::DetailTab, "detail_tab"),
        (Self::Forward, "forward"),
        (Self::OpenBrowser, "open_browser"),
        (Self::StopForward, "stop_forward"),
        (Self::Fix, "fix"),
        (Self::Undo, "undo"),
    ];

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().find(|(_, n)| *n == s).map(|(a, _)| *a)
    }

    /// Whether the key does anything: `--read-only` removes the ones that write.
    pub fn available(self, read_only: bool) -> bool {
        match self {
            Self::Fix | Self::Undo => !read_only,
            _ => true,
        }
    }
}

/// A key as written in the keymap (`q`, `ctrl-c`, `enter`, `shift-tab`, `?`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    pub code: KeyCode,
    pub ctrl: bool,
}

impl Key {
    pub fn parse(s: &str) -> Option<Self> {
        let (ctrl, rest) = match s.strip_prefix("ctrl-") {
            Some(r) => (true, r),
            None => (false, s),
        };
        let code = match rest {
            "enter" => KeyCode::Enter,
            "esc" => KeyCode::Esc,
            "tab" => KeyCode::Tab,
            "shift-tab" | "backtab" => KeyCode::BackTab,
            "up" => KeyCode::Up,
            "down" => KeyCode::Down,
            "left" => KeyCode::Left,
            "right" => KeyCode::Right,
            "home" => KeyCode::Home,
            "end" => KeyCode::End,
            "pageup" => KeyCode::PageUp,
            "pagedown" => KeyCode::PageDown,
            "space" => KeyCode::Char(' '),
            c if c.chars().count() == 1 => KeyCode::Char(c.chars().next()?),
            _ => return None,
        };
        Some(Self { code, ctrl })
    }

    pub fn matches(&self, ev: &KeyEvent) -> bool {
        let ctrl = ev.modifiers.contains(KeyModifiers::CONTROL);
        ctrl == self.ctrl
            && (self.code == ev.code
                || matches!((self.code, ev.code), (KeyCode::Char(a), KeyCode::Char(b)) if a == b))
    }
}

#[derive(Debug, Clone)]
pub struct Binding {
    pub on: String,
    pub key: Key,
    pub action: Action,
    pub desc: String,
}

#[derive(Debug, Deserialize)]
struct Entry {
    on: String,
    run: String,
    #[serde(default)]
    desc: String,
}

#[derive(Debug, Deserialize)]
struct File {
    #[serde(default)]
    keymap: Vec<Entry>,
}

pub const DEFAULT: &str = include_str!("keymap-default.toml");

#[derive(Debug, Clone)]
pub struct Keymap {
    pub bindings: Vec<Binding>,
}

impl Keymap {
    /// Defaults, then `overrides` (a keymap.toml text): an entry for a key replaces that key's
    /// binding. Problems come back as warnings.
    pub fn load(overrides: Option<&str>) -> (Self, Vec<String>) {
        let mut warnings = Vec::new();
        let mut km = Self { bindings: Vec::new() };
        km.merge(DEFAULT, &mut warnings);
        if let Some(text) = overrides {
            km.merge(text, &mut warnings);
        }
        (km, warnings)
    }

    fn merge(&mut self, text: &str, warnings: &mut Vec<String>) {
        let file: File = match toml::from_str(text) {
            Ok(f) => f,
            Err(e) => {
                warnings.push(format!("keymap.toml ignored: {}", e.message()));
                return;
            }
        };
        for e in file.keymap {
            let Some(key) = Key::parse(&e.on) else {
                warnings.push(format!("keymap: unknown key {:?}", e.on));
                continue;
            };
            let Some(action) = Action::parse(&e.run) else {
                warnings.push(format!("keymap: unknown action {:?} for {:?}", e.run, e.on));
                continue;
            };
            self.bindings.retain(|b| b.key != key);
            let desc = if e.desc.is_empty() { e.run.replace('_', " ") } else { e.desc };
            self.bindings.push(Binding { on: e.on, key, action, desc });
        }
    }

    pub fn action(&self, ev: &KeyEvent) -> Option<Action> {
        self.bindings.iter().find(|b| b.key.matches(ev)).map(|b| b.action)
    }

    /// The first key bound to `a`, for hints (`f forward`).
    pub fn key_for(&self, a: Action) -> Option<&str> {
        self.bindings.iter().find(|b| b.action == a).map(|b| b.on.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides_with_warnings() {
        let (km, w) = Keymap::load(None);
        assert!(w.is_empty(), "{w:?}");
        let q = KeyEvent::new(KeyCode::Char('q'), KeyModifiers::NONE);
        assert_eq!(km.action(&q), Some(Action::Quit));
        let (km, w) = Keymap::load(Some("[[keymap]]\non = \"x\"\nrun = \"quit\"\n[[keymap]]\non = \"nope-key\"\nrun = \"quit\"\n[[keymap]]\non = \"z\"\nrun = \"explode\"\n"));
        assert_eq!(w.len(), 2, "{w:?}");
        assert_eq!(
            km.action(&KeyEvent::new(KeyCode::Char('x'), KeyModifiers::NONE)),
            Some(Action::Quit)
        );
        let (_, w) = Keymap::load(Some("this is = = not toml"));
        assert_eq!(w.len(), 1);
    }
}
