//! Themes: `themes/*.toml` embedded at build time, semantic style names only. Widgets ask
//! for a role (`theme.severity(sev)`, `theme.get("row_selected")`), never for a colour.

use crate::posture::Severity;
use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;
use std::collections::BTreeMap;

pub const BUILTIN: [(&str, &str); 3] = [
    ("dark", include_str!("../../themes/dark.toml")),
    ("light", include_str!("../../themes/light.toml")),
    ("high-contrast", include_str!("../../themes/high-contrast.toml")),
];

#[derive(Debug, Deserialize)]
struct StyleDef {
    fg: Option<String>,
    bg: Option<String>,
    #[serde(default)]
    bold: bool,
    #[serde(default)]
    italic: bool,
    #[serde(default)]
    underlined: bool,
}

#[derive(Debug, Deserialize)]
struct ThemeFile {
    name: String,
    styles: BTreeMap<String, StyleDef>,
}

#[derive(Debug, Clone)]
pub struct Theme {
    pub name: String,
    styles: BTreeMap<String, Style>,
}

fn color(s: &str) -> Option<Color> {
    s.parse::<Color>().ok()
}

impl Theme {
    pub fn parse(text: &str) -> Result<Self, String> {
        let f: ThemeFile = toml::from_str(text).map_err(|e| e.message().to_string())?;
        let mut styles = BTreeMap::new();
        for (k, d) in f.styles {
            let mut st = Style::default();
            if let Some(c) = d.fg.as_deref() {
                st = st.fg(color(c).ok_or_else(|| format!("styles.{k}.fg: unknown colour {c:?}"))?);
            }
            if let Some(c) = d.bg.as_deref() {
                st = st.bg(color(c).ok_or_else(|| format!("styles.{k}.bg: unknown colour {c:?}"))?);
            }
            if d.bold {
                st = st.add_modifier(Modifier::BOLD);
            }
            if d.italic {
                st = st.add_modifier(Modifier::ITALIC);
            }
            if d.underlined {
                st = st.add_modifier(Modifier::UNDERLINED);
            }
            styles.insert(k, st);
        }
        Ok(Self { name: f.name, styles })
    }

    /// A built-in theme by name (`dark` when unknown).
    pub fn builtin(name: &str) -> Self {
        let text = BUILTIN.iter().find(|(n, _)| *n == name).map_or(BUILTIN[0].1, |(_, t)| t);
        Self::parse(text).unwrap_or_else(|_| Self { name: "plain".into(), styles: BTreeMap::new() })
    }

    pub fn get(&self, role: &str) -> Style {
        self.styles.get(role).copied().unwrap_or_default()
    }

    pub fn severity(&self, s: Severity) -> Style {
        self.get(match s {
            Severity::Critical => "severity_critical",
            Severity::High => "severity_high",
            Severity::Medium => "severity_medium",
            Severity::Low => "severity_low",
            Severity::Info => "severity_info",
        })
    }

    pub fn grade(&self, g: &str) -> Style {
        self.get(match g {
            "A" => "grade_a",
            "B" => "grade_b",
            "C" => "grade_c",
            "D" => "grade_d",
            super::state::GRADING => "muted",
            _ => "grade_f",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_themes_parse_and_define_every_role() {
        let roles = [
            "text",
            "muted",
            "title",
            "border",
            "border_focused",
            "row_selected",
            "header",
            "badge",
            "severity_critical",
            "severity_high",
            "severity_medium",
            "severity_low",
            "severity_info",
            "grade_a",
            "grade_f",
            "ok",
            "bad",
            "forward_active",
            "stale",
            "error",
            "key",
        ];
        for (name, text) in BUILTIN {
            let t = Theme::parse(text).unwrap_or_else(|e| panic!("{name}: {e}"));
            for r in roles {
                assert!(t.styles.contains_key(r), "{name} lacks {r}");
            }
        }
        assert!(Theme::parse("name = \"x\"\n[styles]\ntext = { fg = \"nope\" }").is_err());
    }
}
