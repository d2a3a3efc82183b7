//! The overlays drawn over the views: the fix preview (plan, dry run, confirmation) and the
//! help, with every keymap layer.

use super::block;
use crate::tui::state::Model;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;

pub(super) fn render_fix(
    m: &Model,
    modal: &crate::tui::state::FixModal,
    f: &mut Frame,
    area: Rect,
) {
    use crate::tui::state::FixStage;
    let t = &m.theme;
    let r = centered(
        area,
        area.width.saturating_sub(4).clamp(20, 120),
        area.height.saturating_sub(2).max(6),
    );
    let mut lines: Vec<Line> = Vec::new();
    let footer: Line = match &modal.stage {
        FixStage::Planning => {
            lines.push(Line::styled(
                "planning: reading the namespace, RBAC pre-check, server-side dry run…",
                t.get("muted"),
            ));
            Line::styled("esc cancel", t.get("key"))
        }
        FixStage::Applying => {
            lines.push(Line::styled(
                "applying (with resourceVersion preconditions)…",
                t.get("muted"),
            ));
            Line::styled("", t.get("key"))
        }
        FixStage::Done(msg, err) => {
            lines.push(Line::styled(msg.clone(), t.get(if *err { "error" } else { "ok" })));
            Line::styled("enter/esc close", t.get("key"))
        }
        FixStage::Preview(p) => {
            for s in p.plan.summary() {
                lines.push(Line::styled(s, t.get("title")));
            }
            for wn in &p.plan.warnings {
                lines.push(Line::styled(format!("! {wn}"), t.get("severity_medium")));
            }
            for (a, bad) in p.answer_lines() {
                lines.push(Line::styled(a, t.get(if bad { "error" } else { "ok" })));
            }
            lines.push(Line::raw(""));
            for l in p.plan.diff().lines() {
                let style = match l.chars().next() {
                    Some('+' | '-' | '~')
                        if l.starts_with("+ create")
                            || l.starts_with("- delete")
                            || l.starts_with("~ update") =>
                    {
                        t.get("title")
                    }
                    Some('+') => t.get("ok"),
                    Some('-') => t.get("bad"),
                    Some('@') => t.get("key"),
                    _ => t.get("text"),
                };
                lines.push(Line::styled(l.to_string(), style));
            }
            if !p.ready() {
                Line::styled("cannot apply: see above · esc close", t.get("error"))
            } else if p.plan.strong {
                Line::from(vec![
                    Span::styled(
                        format!(
                            "this deletes objects: type {:?} and enter to apply: ",
                            p.plan.entry
                        ),
                        t.get("key"),
                    ),
                    Span::raw(modal.confirm.value().to_string()),
                    Span::styled("█", t.get("key")),
                    Span::styled("   esc cancel", t.get("muted")),
                ])
            } else {
                Line::styled(
                    format!(
                        "y apply {} write(s) to {} · n/esc cancel · ↑↓ scroll",
                        p.plan.changes.len(),
                        m.context
                    ),
                    t.get("key"),
                )
            }
        }
    };
    let [body, foot] = Layout::vertical([Constraint::Min(1), Constraint::Length(1)])
        .areas(Block::default().borders(Borders::ALL).inner(r));
    f.render_widget(Clear, r);
    f.render_widget(block(m, format!(" {} ", modal.title), true), r);
    f.render_widget(
        Paragraph::new(lines)
            .style(t.get("text"))
            .wrap(Wrap { trim: false })
            .scroll((modal.scroll, 0)),
        body,
    );
    f.render_widget(Paragraph::new(footer), foot);
}

pub(super) fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let (w, h) = (w.min(area.width), h.min(area.height));
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

/// The help's lines: each layer's keys under its heading, one line per action.
fn help_lines(m: &Model) -> Vec<Line<'static>> {
    let t = &m.theme;
    let mut lines: Vec<Line> = Vec::new();
    for layer in crate::tui::keymap::Layer::ALL {
        // "j / down   move down".
        let mut seen: Vec<(String, &str)> = Vec::new();
        for b in m.keymap.layer(layer).filter(|b| b.action.available(m.read_only)) {
            match seen.iter_mut().find(|(_, d)| *d == b.desc) {
                Some((keys, _)) => keys.push_str(&format!(" / {}", b.on)),
                None => seen.push((b.on.clone(), &b.desc)),
            }
        }
        if !lines.is_empty() {
            lines.push(Line::raw(""));
        }
        lines.push(Line::styled(layer.title(), t.get("title")));
        for (keys, desc) in seen {
            lines.push(Line::from(vec![
                Span::styled(format!("{keys:>18}  "), t.get("key")),
                Span::raw(desc.to_string()),
            ]));
        }
    }
    lines
}

const HELP_WIDTH: u16 = 72;

/// The help's box in `area` for `lines` lines.
fn help_area(area: Rect, lines: usize) -> Rect {
    centered(area, HELP_WIDTH, lines as u16 + 2)
}

/// How far the help scrolls on a terminal `m.height` rows high: to its last line.
pub fn help_scroll_max(m: &Model) -> u16 {
    let n = help_lines(m).len();
    let inner = help_area(Rect::new(0, 0, HELP_WIDTH, m.height), n).height.saturating_sub(2);
    (n as u16).saturating_sub(inner)
}

pub(super) fn render_help(m: &Model, f: &mut Frame, area: Rect) {
    let lines = help_lines(m);
    let r = help_area(area, lines.len());
    let max = (lines.len() as u16).saturating_sub(r.height.saturating_sub(2));
    let title = if max > 0 { " Keys (↑↓ scroll, esc closes) " } else { " Keys (esc closes) " };
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(lines)
            .scroll((m.help_scroll.min(max), 0))
            .block(block(m, title.into(), true))
            .style(m.theme.get("text")),
        r,
    );
}
