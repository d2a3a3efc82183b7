//! The keymap as data: `{ on, run, desc }` entries in one table per layer (`[[keymap]]` for
//! normal mode, `[[fix]]` for the fix preview, `[[filter]]`, `[[command]]`, `[[help]]`),
//! defaults embedded, user overrides merged from `keymap.toml` in the config directory. A bad
//! entry is a warning, never a crash. The help overlay is generated from the same entries.

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
    /// The guard's plan (`raydar guard apply`), in the fix preview.
    Guard,
    /// Fix preview: write the plan (the fixes that need no typed confirmation).
    Confirm,
    /// Command line: complete the word.
    Complete,
}

/// Where a key is read: each layer has its own bindings, and the help shows each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layer {
    Normal,
    Fix,
    Filter,
    Command,
    Help,
}

impl Layer {
    pub const ALL: [Layer; 5] = [Self::Normal, Self::Fix, Self::Filter, Self::Command, Self::Help];

    /// The help's heading for the layer.
    pub fn title(self) -> &'static str {
        match self {
            Self::Normal => "Clusters",
            Self::Fix => "Fix preview",
            Self::Filter => "Filter (/)",
            Self::Command => "Command line (:)",
            Self::Help => "This help",
        }
    }

    /// The actions a key may run in the layer.
    fn allows(self, a: Action) -> bool {
        use Action::*;
        match self {
            Self::Normal => !matches!(a, Confirm | Complete),
            Self::Fix => matches!(a, Back | Up | Down | PageUp | PageDown | Enter | Confirm),
            Self::Filter => matches!(a, Back | Enter),
            Self::Command => matches!(a, Back | Enter | Complete),
            Self::Help => matches!(a, Back | Up | Down | PageUp | PageDown),
        }
    }
}

impl Action {
    pub const ALL: [(Action, &'static str); 26] = [
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
        (Self::Guard, "guard"),
        (Self::Confirm, "confirm"),
        (Self::Complete, "complete"),
    ];

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().find(|(_, n)| *n == s).map(|(a, _)| *a)
    }

    /// Whether the key does anything: `--read-only` removes the ones that write.
    pub fn available(self, read_only: bool) -> bool {
        match self {
            Self::Fix | Self::Undo | Self::Guard => !read_only,
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
    pub layer: Layer,
    pub on: String,
    pub key: Key,
    pub action: Action,
    pub desc: String,
}

#[derive(Debug, Deserialize)]
struct RawBinding {
    on: String,
    run: String,
    #[serde(default)]
    desc: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    keymap: Vec<RawBinding>,
    #[serde(default)]
    fix: Vec<RawBinding>,
    #[serde(default)]
    filter: Vec<RawBinding>,
    #[serde(default)]
    command: Vec<RawBinding>,
    #[serde(default)]
    help: Vec<RawBinding>,
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
        let layers = [
            (Layer::Normal, file.keymap),
            (Layer::Fix, file.fix),
            (Layer::Filter, file.filter),
            (Layer::Command, file.command),
            (Layer::Help, file.help),
        ];
        for (layer, entries) in layers {
            for e in entries {
                let Some(key) = Key::parse(&e.on) else {
                    warnings.push(format!("keymap: unknown key {:?}", e.on));
                    continue;
                };
                let Some(action) = Action::parse(&e.run).filter(|a| layer.allows(*a)) else {
                    warnings.push(format!(
                        "keymap: unknown action {:?} for {:?} in {}",
                        e.run,
                        e.on,
                        layer.title()
                    ));
                    continue;
                };
                self.bindings.retain(|b| b.layer != layer || b.key != key);
                let desc = if e.desc.is_empty() { e.run.replace('_', " ") } else { e.desc };
                self.bindings.push(Binding { layer, on: e.on, key, action, desc });
            }
        }
    }

    /// What `ev` does in `layer`, if anything.
    pub fn action(&self, layer: Layer, ev: &KeyEvent) -> Option<Action> {
        self.bindings.iter().find(|b| b.layer == layer && b.key.matches(ev)).map(|b| b.action)
    }

    /// The first key bound to `a` in normal mode, for hints (`f forward`).
    pub fn key_for(&self, a: Action) -> Option<&str> {
        self.layer(Layer::Normal).find(|b| b.action == a).map(|b| b.on.as_str())
    }

    /// The bindings of one layer, in the keymap's order.
    pub fn layer(&self, layer: Layer) -> impl Iterator<Item = &Binding> {
        self.bindings.iter().filter(move |b| b.layer == layer)
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
        assert_eq!(km.action(Layer::Normal, &q), Some(Action::Quit));
        assert_eq!(km.action(Layer::Fix, &q), Some(Action::Back));
        assert_eq!(km.action(Layer::Filter, &q), None, "q is typed into the filter");
        let y = KeyEvent::new(KeyCode::Char('y'), KeyModifiers::NONE);
        assert_eq!(km.action(Layer::Fix, &y), Some(Action::Confirm));
        let tab = KeyEvent::new(KeyCode::Tab, KeyModifiers::NONE);
        assert_eq!(km.action(Layer::Command, &tab), Some(Action::Complete));
        for layer in Layer::ALL {
            assert!(km.layer(layer).next().is_some(), "{layer:?} has keys");
        }
        let (km, w) = Keymap::load(Some("[[keymap]]\non = \"x\"\nrun = \"quit\"\n[[keymap]]\non = \"nope-key\"\nrun = \"quit\"\n[[keymap]]\non = \"z\"\nrun = \"explode\"\n"));
        assert_eq!(w.len(), 2, "{w:?}");
        assert_eq!(
            km.action(Layer::Normal, &KeyEvent::new(KeyCode::Char('x'), KeyModifiers::NONE)),
            Some(Action::Quit)
        );
        let (_, w) = Keymap::load(Some("this is = = not toml"));
        assert_eq!(w.len(), 1);
        // Each layer is overridden on its own; an action a layer cannot run is refused.
        let (km, w) = Keymap::load(Some(
            "[[fix]]\non = \"a\"\nrun = \"confirm\"\n[[filter]]\non = \"x\"\nrun = \"forward\"\n",
        ));
        assert_eq!(w.len(), 1, "{w:?}");
        let a = KeyEvent::new(KeyCode::Char('a'), KeyModifiers::NONE);
        assert_eq!(km.action(Layer::Fix, &a), Some(Action::Confirm));
        assert_eq!(km.action(Layer::Fix, &y), Some(Action::Confirm), "y is still bound");
        assert_eq!(km.action(Layer::Normal, &a), None);
    }
}
