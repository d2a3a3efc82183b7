//! Rendering: `render(&Model, &mut Frame)`, nothing else. Works at 80×24 and degrades
//! sensibly narrower (the namespaces pane and wide columns go first).

use super::state::{grade_text, Focus, Link, Mode, Model, Row as DataRow, Tab, GRADING};
use super::theme::Theme;
use crate::posture::Severity;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, TableState, Wrap};
use ratatui::Frame;

fn mark(ok: bool) -> &'static str {
    if ok {
        "✓"
    } else {
        "✗"
    }
}

fn block<'a>(m: &Model, title: String, focused: bool) -> Block<'a> {
    Block::default()
        .borders(Borders::ALL)
        .border_style(m.theme.get(if focused { "border_focused" } else { "border" }))
        .title(Span::styled(title, m.theme.get("title")))
}

pub fn render(m: &Model, f: &mut Frame) {
    let area = f.area();
    let [header, body, status] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(3), Constraint::Length(1)])
            .areas(area);
    render_header(m, f, header);
    let detail_h = if body.height >= 16 { body.height * 2 / 5 } else { 0 };
    let [top, detail] =
        Layout::vertical([Constraint::Min(3), Constraint::Length(detail_h)]).areas(body);
    if area.width >= 80 {
        let ns_w = match area.width {
            w if w >= 130 && m.fleet_mode() => 32,
            w if w >= 110 => 24,
            _ => 20,
        };
        let [left, clusters] =
            Layout::horizontal([Constraint::Length(ns_w), Constraint::Min(20)]).areas(top);
        if m.fleet_mode() {
            // The contexts pane above the namespaces: every context, at most half the column.
            let want = (m.fleet.len() as u16 + 3).min(left.height / 2).max(3);
            let [ctx, ns] =
                Layout::vertical([Constraint::Length(want), Constraint::Min(3)]).areas(left);
            render_contexts(m, f, ctx);
            render_namespaces(m, f, ns);
        } else {
            render_namespaces(m, f, left);
        }
        render_clusters(m, f, clusters);
    } else {
        render_clusters(m, f, top);
    }
    if detail_h > 0 && m.show_forwards && !m.forwards.is_empty() {
        render_forwards(m, f, detail);
    } else if detail_h > 0 {
        render_detail(m, f, detail);
    }
    render_status(m, f, status);
    if m.mode == Mode::Help {
        render_help(m, f, area);
    }
    if let (Mode::Fix, Some(modal)) = (m.mode, &m.fix) {
        render_fix(m, modal, f, area);
    }
}

/// The fix modal: diff of every object, warnings, the RBAC check and the server's dry-run
/// answer, and what to press.
fn render_header(m: &Model, f: &mut Frame, area: Rect) {
    let t = &m.theme;
    let mut spans = vec![
        Span::styled(" raydar ", t.get("badge")),
        Span::styled(format!(" ctx: {} ", m.selected_ctx().unwrap_or(&m.context)), t.get("header")),
    ];
    if area.width >= 100 && !m.server.is_empty() {
        spans.push(Span::styled(format!(" api: {} ", m.server), t.get("header")));
    }
    if !m.user.is_empty() {
        spans.push(Span::styled(format!(" user: {} ", m.user), t.get("header")));
    }
    if area.width >= 90 && !m.fleet_mode() {
        let kr = m
            .kuberay
            .as_deref()
            .map_or_else(|| "KubeRay ?".to_string(), |v| format!("KubeRay {v}"));
        spans.push(Span::styled(format!(" {kr} "), t.get("header")));
    }
    if let Some(g) = m.guard.as_deref().filter(|_| area.width >= 110) {
        spans.push(Span::styled(format!(" {g} "), t.get("header")));
    }
    if !m.forwards.is_empty() {
        spans.push(Span::styled(
            format!(" forwards: {} ", m.forwards.len()),
            t.get("forward_active"),
        ));
    }
    if m.read_only {
        spans.push(Span::styled(" READ-ONLY ", t.get("badge")));
    }
    f.render_widget(Paragraph::new(Line::from(spans)).style(t.get("header")), area);
}

/// A pane of the left column: an "all" line, then one line per item (`item(i)`), the
/// `index`-th selected (0 = all). Only the lines in view are built (1,000 namespaces cost the
/// same as 5).
fn side_pane<'a>(
    m: &Model,
    f: &mut Frame,
    area: Rect,
    title: &str,
    focused: bool,
    (index, len, total): (usize, usize, usize),
    item: impl Fn(usize) -> Row<'a>,
) {
    let t = &m.theme;
    let height = area.height.saturating_sub(2).max(1) as usize;
    let offset = index.saturating_sub(height - 1);
    let rows: Vec<Row> = (offset..(len + 1).min(offset + height))
        .map(|i| match i.checked_sub(1) {
            None => {
                Row::new(vec![Cell::from("·"), Cell::from("all"), Cell::from(total.to_string())])
            }
            Some(j) => item(j),
        })
        .collect();
    let table =
        Table::new(rows, [Constraint::Length(1), Constraint::Min(6), Constraint::Length(5)])
            .block(block(m, format!(" {title} "), focused))
            .row_highlight_style(t.get("row_selected"))
            .highlight_symbol("›")
            .style(t.get("text"));
    let mut st = TableState::default().with_selected(Some(index - offset));
    f.render_stateful_widget(table, area, &mut st);
}

/// The contexts of a fleet: worst grade, name, Ray objects, and a mark for a context that is
/// listing (`…`), stale (`!`) or down (`✗`).
fn render_contexts(m: &Model, f: &mut Frame, area: Rect) {
    let t = &m.theme;
    let at = (m.ctx_index, m.fleet.len(), m.rows.len());
    side_pane(m, f, area, "Contexts", m.focus == Focus::Contexts, at, |i| {
        let p = &m.fleet[i];
        let worst = p.worst();
        let (mark, style) = match p.state().as_str() {
            "down" => ("✗", t.get("error")),
            "stale" => ("!", t.get("stale")),
            "listing" => ("…", t.get("muted")),
            _ => ("", t.get("text")),
        };
        Row::new(vec![
            Cell::from(Span::styled(worst.clone(), t.grade(&worst))),
            Cell::from(Span::styled(format!("{mark}{}", p.name), style)),
            Cell::from(p.rows.len().to_string()),
        ])
    });
}

fn render_namespaces(m: &Model, f: &mut Frame, area: Rect) {
    let t = &m.theme;
    let total: usize = m.namespaces.iter().map(|n| n.count).sum();
    let at = (m.ns_index, m.namespaces.len(), total);
    side_pane(m, f, area, "Namespaces", m.focus == Focus::Namespaces, at, |i| {
        let n = &m.namespaces[i];
        Row::new(vec![
            Cell::from(Span::styled(n.worst.clone(), t.grade(&n.worst))),
            // All contexts at once: which context's namespace it is.
            Cell::from(match (&n.context, m.selected_ctx()) {
                (Some(c), None) => format!("{c}/{}", n.name),
                _ => n.name.clone(),
            }),
            Cell::from(n.count.to_string()),
        ])
    });
}

fn counts(e: &crate::posture::Entry) -> String {
    let (c, h, md) =
        (e.count(Severity::Critical), e.count(Severity::High), e.count(Severity::Medium));
    let mut s = String::new();
    if c > 0 {
        s.push_str(&format!("✖{c} "));
    }
    if h > 0 {
        s.push_str(&format!("▲{h} "));
    }
    if md > 0 {
        s.push_str(&format!("●{md}"));
    }
    s.trim_end().to_string()
}

/// `GRADE F  dashboard public on a LoadBalancer + no token auth → …`: why the grade is what
/// it is, above the findings.
fn grade_line<'a>(e: &'a crate::posture::Entry, t: &Theme) -> Line<'a> {
    let g = grade_text(e.grade);
    Line::from(vec![
        Span::styled(format!("GRADE {g}  "), t.grade(g)),
        Span::raw(e.grade_reason.as_str()),
    ])
}

/// `F ✖2`: the grade, the worst severity's symbol and how many findings have it.
fn grade_cell(e: &crate::posture::Entry) -> String {
    match e.worst() {
        Some(s) if s >= Severity::High => {
            let g = grade_text(e.grade);
            format!("{g} {}{}", s.label().chars().next().unwrap_or(' '), e.count(s))
        }
        _ => grade_text(e.grade).to_string(),
    }
}

fn exposure_style(m: &Model, r: &DataRow) -> Style {
    match r.exposure {
        "internal" => m.theme.get("ok"),
        "ACL" => m.theme.severity(Severity::High),
        _ => m.theme.severity(Severity::Critical),
    }
}

fn render_clusters(m: &Model, f: &mut Frame, area: Rect) {
    let t = &m.theme;
    // Every context at once: rows of the same name in two contexts need their context, in a
    // column of its own that the wide columns make room for.
    let all_contexts = m.fleet_mode() && m.selected_ctx().is_none();
    let ctx_w = if all_contexts {
        m.fleet.iter().map(|p| p.name.chars().count()).max().unwrap_or(7).clamp(7, 20) as u16 + 1
    } else {
        0
    };
    let wide = area.width >= 94 + ctx_w;
    let mid = area.width >= 60;
    // The namespaces pane shows the namespace when it is there; the column only when room allows.
    let show_ns = m.ns_index == 0 && (area.width >= 124 + ctx_w || f.area().width < 80);
    let mut header = vec!["GRADE", "NAME"];
    let mut widths = vec![Constraint::Length(5), Constraint::Fill(1)];
    if all_contexts && mid {
        header.push("CONTEXT");
        widths.push(Constraint::Length(ctx_w - 1));
    }
    if show_ns && mid {
        header.push("NAMESPACE");
        widths.push(Constraint::Length(12));
    }
    if wide {
        header.extend(["KIND", "RAY", "STATE", "WORKERS", "HEAD-SVC"]);
        widths.extend([
            Constraint::Length(10),
            Constraint::Length(7),
            Constraint::Length(5),
            Constraint::Length(7),
            Constraint::Length(12),
        ]);
    } else if mid {
        header.push("RAY");
        widths.push(Constraint::Length(7));
    }
    header.extend(["EXPOSURE", "TLS", "AUTH", "NP"]);
    widths.extend([
        Constraint::Length(8),
        Constraint::Length(3),
        Constraint::Length(4),
        Constraint::Length(2),
    ]);
    if mid && !wide {
        header.push("FINDINGS");
        widths.push(Constraint::Length(9));
    }
    let stale_link = matches!(m.link, Link::Reconnecting(_));
    // In a fleet, the rows of a context whose API went away are the stale ones.
    let stale_contexts: Vec<&str> = m
        .fleet
        .iter()
        .filter(|p| matches!(p.link, Link::Reconnecting(_)))
        .map(|p| p.name.as_str())
        .collect();
    // Only the rows in view are built: a frame costs the same with 12 or 5,000 clusters.
    let height = area.height.saturating_sub(3).max(1) as usize;
    let offset = m.selected.saturating_sub(height - 1);
    let rows: Vec<Row> = m
        .visible
        .iter()
        .skip(offset)
        .take(height)
        .filter_map(|i| m.rows.get(*i))
        .map(|r| {
            let e = &r.entry;
            let mut cells = vec![
                Cell::from(Span::styled(grade_cell(e), t.grade(grade_text(e.grade)))),
                Cell::from(
                    if m.forwards.iter().any(|f| f.namespace == e.namespace && f.cluster == e.name)
                    {
                        format!("{} ⇄", e.name)
                    } else {
                        e.name.clone()
                    },
                ),
            ];
            if all_contexts && mid {
                cells.push(Cell::from(e.context.clone().unwrap_or_default()));
            }
            if show_ns && mid {
                cells.push(Cell::from(e.namespace.clone()));
            }
            if wide {
                let kind = match &e.owner {
                    Some(o) => format!("↳{}", o.kind),
                    None => e.kind.to_string(),
                };
                cells.extend([
                    Cell::from(kind),
                    Cell::from(e.ray_version.clone().unwrap_or_else(|| "?".into())),
                    Cell::from(r.state.clone()),
                    Cell::from(format!("{}/{}", r.workers_ready, r.workers_desired)),
                    Cell::from(r.head_svc.clone()),
                ]);
            } else if mid {
                cells.push(Cell::from(e.ray_version.clone().unwrap_or_else(|| "?".into())));
            }
            if r.graded() {
                cells.extend([
                    Cell::from(Span::styled(r.exposure, exposure_style(m, r))),
                    Cell::from(Span::styled(mark(r.tls), t.get(if r.tls { "ok" } else { "bad" }))),
                    Cell::from(Span::styled(
                        mark(r.auth),
                        t.get(if r.auth { "ok" } else { "bad" }),
                    )),
                    Cell::from(match r.netpol {
                        Some(ok) => Span::styled(mark(ok), t.get(if ok { "ok" } else { "bad" })),
                        None => Span::styled("?", t.get("muted")),
                    }),
                ]);
            } else {
                let muted = t.get("muted");
                cells.extend([
                    Cell::from(Span::styled("grading…", muted)),
                    Cell::from(Span::styled(GRADING, muted)),
                    Cell::from(Span::styled(GRADING, muted)),
                    Cell::from(Span::styled(GRADING, muted)),
                ]);
            }
            if mid && !wide {
                cells.push(Cell::from(counts(e)));
            }
            let row = Row::new(cells);
            let stale =
                stale_link || e.context.as_deref().is_some_and(|c| stale_contexts.contains(&c));
            if stale {
                row.style(t.get("stale"))
            } else {
                row
            }
        })
        .collect();
    let title = match m.selected_ns() {
        Some(ns) => format!(" Ray clusters in {ns} ({}) ", m.visible.len()),
        None => format!(" Ray clusters ({}) ", m.visible.len()),
    };
    let title =
        if m.filter.value().is_empty() { title } else { format!("{title}/{} ", m.filter.value()) };
    let table = Table::new(rows, widths)
        .header(Row::new(header).style(t.get("title").add_modifier(Modifier::BOLD)))
        .block(block(m, title, m.focus == Focus::Clusters))
        .row_highlight_style(t.get("row_selected"))
        .highlight_symbol("›")
        .style(t.get("text"));
    let mut st =
        TableState::default().with_selected((!m.visible.is_empty()).then_some(m.selected - offset));
    f.render_stateful_widget(table, area, &mut st);
    if m.visible.is_empty() {
        let msg = match (&m.link, m.rows.is_empty()) {
            (Link::Loading, _) => "listing Ray clusters…",
            (_, true) => "no Ray clusters found in this scope",
            _ => "nothing matches the filter (esc clears it)",
        };
        let inner =
            Rect { x: area.x + 2, y: area.y + 2, width: area.width.saturating_sub(4), height: 1 };
        f.render_widget(Paragraph::new(msg).style(t.get("muted")), inner);
    }
}

fn render_detail(m: &Model, f: &mut Frame, area: Rect) {
    let t = &m.theme;
    let Some(r) = m.current() else {
        f.render_widget(Paragraph::new("").block(block(m, " Findings ".into(), false)), area);
        return;
    };
    let e = &r.entry;
    let (ft, et) = match m.tab {
        Tab::Findings => ("[findings]", "events"),
        Tab::Events => ("findings", "[events]"),
    };
    let title = if r.graded() {
        format!(
            " {} · {ft} ({}) · {et} ({}) · grade {}: {} ",
            e.name,
            e.findings.len(),
            r.events.len(),
            grade_text(e.grade),
            e.grade_reason
        )
    } else {
        format!(" {} · {ft} · {et} · grading… ", e.name)
    };
    let width = area.width.saturating_sub(4) as usize;
    let mut lines: Vec<Line> = Vec::new();
    match m.tab {
        Tab::Findings if !r.graded() => lines.push(Line::styled(
            "grading… the pods, Services, Ingresses, NetworkPolicies, quotas and RBAC that decide the grade are still being listed",
            t.get("muted"),
        )),
        Tab::Findings if e.findings.is_empty() => {
            lines.push(grade_line(e, t));
            lines.push(Line::styled("no findings: nothing to fix here", t.get("ok")))
        }
        Tab::Findings => {
            lines.push(grade_line(e, t));
            for (i, fd) in e.findings.iter().enumerate() {
                let selected = i == m.finding && m.focus == Focus::Detail;
                let mut head = vec![
                    Span::styled(format!("{} ", fd.severity.label()), t.severity(fd.severity)),
                    Span::styled(format!("{} §{} ", fd.rule.id, fd.rule.section), t.get("key")),
                    Span::raw(fd.rule.title),
                ];
                match (&fd.rule.fix, m.read_only, m.keymap.key_for(super::keymap::Action::Fix)) {
                    (Some(fix), false, Some(k)) => {
                        head.push(Span::styled(format!("  [{k}] fix: {fix}"), t.get("key")))
                    }
                    (Some(fix), _, _) => {
                        head.push(Span::styled(format!("  fix: {fix}"), t.get("muted")))
                    }
                    _ => {}
                }
                if let Some(reason) = &fd.exempt {
                    head.push(Span::styled(format!("  exempt: {reason}"), t.get("muted")));
                }
                let mut line = Line::from(head);
                if selected {
                    line = line.style(t.get("row_selected"));
                }
                lines.push(line);
                let ev: String = fd
                    .evidence
                    .chars()
                    .take(width.saturating_sub(7).max(10) * if selected { 4 } else { 1 })
                    .collect();
                lines.push(Line::styled(format!("       {ev}"), t.get("muted")));
                if selected {
                    lines.push(Line::styled(
                        format!("       → {}", fd.rule.remediation),
                        t.get("text"),
                    ));
                }
            }
        }
        Tab::Events if r.events.is_empty() => {
            lines.push(Line::styled("no recent Warning events", t.get("muted")))
        }
        Tab::Events => {
            for (i, ev) in r.events.iter().enumerate() {
                let line = Line::from(vec![
                    Span::styled("⚠ Warning ", t.severity(Severity::Medium)),
                    Span::styled(format!("{} ", ev.reason), t.get("key")),
                    Span::raw(format!("{} (×{}): {}", ev.object, ev.count, ev.message)),
                ]);
                lines.push(if i == m.finding && m.focus == Focus::Detail {
                    line.style(t.get("row_selected"))
                } else {
                    line
                });
            }
        }
    }
    // Keep the selected finding in view.
    let per = if m.tab == Tab::Findings { 2 } else { 1 };
    let skip = (m.finding * per).saturating_sub(area.height.saturating_sub(4) as usize);
    let p = Paragraph::new(lines)
        .block(block(m, title, m.focus == Focus::Detail))
        .wrap(Wrap { trim: false })
        .scroll((skip as u16, 0));
    f.render_widget(p, area);
}

fn render_forwards(m: &Model, f: &mut Frame, area: Rect) {
    let t = &m.theme;
    let mut lines: Vec<Line> = Vec::new();
    for fw in &m.forwards {
        lines.push(Line::from(vec![
            Span::styled("⇄ ", t.get("forward_active")),
            Span::styled(format!("{}/{} ", fw.namespace, fw.cluster), t.get("key")),
            Span::raw(format!("{}  (o opens it with its token, x stops it)", fw.url)),
        ]));
        lines.push(Line::styled(format!("   {}", fw.summary), t.get("muted")));
    }
    let title = format!(" Forwards ({}) · esc back to findings ", m.forwards.len());
    f.render_widget(
        Paragraph::new(lines).block(block(m, title, true)).wrap(Wrap { trim: false }),
        area,
    );
}

fn render_status(m: &Model, f: &mut Frame, area: Rect) {
    let t = &m.theme;
    if m.mode == Mode::Filter {
        let line = Line::from(vec![
            Span::styled("/", t.get("key")),
            Span::raw(m.filter.value().to_string()),
            Span::styled("█", t.get("muted")),
        ]);
        f.render_widget(Paragraph::new(line), area);
        return;
    }
    if m.mode == Mode::Command {
        let hint = super::update::complete(m, m.command.value())
            .filter(|c| c != m.command.value())
            .map(|c| format!("   tab → :{c}"))
            .unwrap_or_default();
        let line = Line::from(vec![
            Span::styled(":", t.get("key")),
            Span::raw(m.command.value().to_string()),
            Span::styled("█", t.get("muted")),
            Span::styled(hint, t.get("muted")),
        ]);
        f.render_widget(Paragraph::new(line), area);
        return;
    }
    let mut left: Vec<Span> = Vec::new();
    if m.fleet_mode() {
        let stale = m.fleet.iter().any(|p| p.state() == "stale" || p.state() == "down");
        left.push(Span::styled(
            format!(" {} ", m.fleet_status()),
            t.get(if stale { "stale" } else { "muted" }),
        ));
    }
    match &m.link {
        _ if m.fleet_mode() => {}
        Link::Loading => left.push(Span::styled(" listing… ", t.get("muted"))),
        Link::Live if m.rows.iter().any(|r| !r.graded()) => left.push(Span::styled(
            format!(" grading… Ray clusters listed {} ", m.synced.as_deref().unwrap_or("")),
            t.get("muted"),
        )),
        Link::Live => left.push(Span::styled(
            format!(" synced {} ", m.synced.as_deref().unwrap_or("")),
            t.get("muted"),
        )),
        Link::Reconnecting(why) => left.push(Span::styled(
            format!(
                " reconnecting — data from {} is stale ({why}) ",
                m.synced.as_deref().unwrap_or("?")
            ),
            t.get("stale"),
        )),
    }
    if let Some((msg, err)) = &m.notice {
        left.push(Span::styled(format!("· {msg} "), t.get(if *err { "error" } else { "text" })));
    } else if !m.errors.is_empty() {
        // A namespace that is partly readable says the most ("ml-team: forbidden (list …)").
        let e = m
            .errors
            .iter()
            .find(|e| e.namespace.is_some() && e.message.contains("list"))
            .unwrap_or(&m.errors[0]);
        let more = if m.errors.len() > 1 {
            format!(" (+{} more)", m.errors.len() - 1)
        } else {
            String::new()
        };
        let place = e.namespace.as_deref().map(|n| format!("{n}: ")).unwrap_or_default();
        left.push(Span::styled(format!("· {place}{}{more} ", e.message), t.get("error")));
    }
    let hints: Vec<(&str, &str)> = [
        (super::keymap::Action::Filter, "filter"),
        (super::keymap::Action::Command, "cmd"),
        (super::keymap::Action::Help, "help"),
        (super::keymap::Action::Quit, "quit"),
    ]
    .iter()
    .filter_map(|(a, d)| m.keymap.key_for(*a).map(|k| (k, *d)))
    .collect();
    let right: String =
        hints.iter().map(|(k, d)| format!("{k} {d}")).collect::<Vec<_>>().join("  ");
    let used: usize = left.iter().map(|s| s.content.chars().count()).sum();
    let free = (area.width as usize).saturating_sub(used);
    if free > right.chars().count() + 1 {
        left.push(Span::raw(" ".repeat(free - right.chars().count() - 1)));
        left.push(Span::styled(right, t.get("key")));
    }
    f.render_widget(Paragraph::new(Line::from(left)), area);
}

/// A `w`×`h` box in the middle of `area`, never larger than it.
mod overlays;
pub use overlays::help_scroll_max;
use overlays::{render_fix, render_help};
