//! The SVG text of a laid-out graph: a style sheet, edges as curves under the boxes, boxes with
//! two lines of text and a `<title>` each (the hover text), and a legend. Numbers are written
//! with one decimal, so the same graph gives the same bytes.

use super::layout::{layout, BOX_H, V_GAP};
use super::{BoxInfo, Look};
use std::fmt::Write;

/// Monospace advance at the drawing's font size, for box widths.
const CHAR_W: f64 = 6.7;

pub(super) const STYLE: &str = "\
text{font-family:monospace;font-size:11px;fill:#222}
.edge{fill:none;stroke:#8a8f98;stroke-opacity:.8}
.edge:hover{stroke:#1f5fbf;stroke-opacity:1}
rect{stroke:#555;stroke-width:1}
.input rect{fill:#e8e8e8}
.boundary rect{fill:#f4f0e6}
.integer rect{fill:#dbe9fb}
.float rect{fill:#ffffff}
.float-in-int rect{fill:#ffe2c2;stroke:#d2691e;stroke-width:2;stroke-dasharray:5 3}
.fused rect{stroke-width:3;stroke:#6a3d9a}
.fused rect.inner{fill:none;stroke:#fff;stroke-width:1}
g.node:hover rect{stroke:#1f5fbf}
.detail{fill:#555;font-size:10px}
";

/// The colour of an SQNR: red at 5 dB or less, through yellow, to green at 40 dB or more.
pub(super) fn sqnr_colour(db: f64) -> String {
    let t = ((db - 5.0) / 35.0).clamp(0.0, 1.0);
    format!("hsl({:.0},70%,78%)", t * 120.0)
}

pub(super) fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Stroke width of an edge carrying `bytes`: 1 px for 64 bytes or less, half a pixel more per
/// doubling, at most 9.
fn edge_width(bytes: usize) -> f64 {
    (1.0 + 0.5 * ((bytes.max(64) as f64) / 64.0).log2()).min(9.0)
}

pub fn draw(
    name: &str,
    boxes: &[BoxInfo],
    edges: &[(usize, usize)],
    edge_bytes: &[usize],
    edge_titles: &[String],
    sqnr_legend: bool,
) -> String {
    let widths: Vec<f64> = boxes
        .iter()
        .map(|b| (b.label.chars().count().max(b.detail.chars().count()) as f64) * CHAR_W + 16.0)
        .collect();
    let (placed, width, height) = layout(&widths, edges);
    let legend_line = legend(name, sqnr_legend);
    let legend_w = legend_line.split("</text>").next().map_or(0, |t| t.len()) as f64 * 0.9 * CHAR_W;
    let width = width.max(legend_w);
    let legend_h = if sqnr_legend { 50.0 } else { 28.0 };
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w:.1}\" height=\"{h:.1}\" viewBox=\"0 0 {w:.1} {h:.1}\">\n<title>@{}</title>\n<style>\n{STYLE}</style>\n",
        escape(name),
        w = width,
        h = height + legend_h
    );
    let _ = writeln!(s, "{legend_line}");
    let _ = writeln!(s, "<g transform=\"translate(0,{legend_h:.1})\">");
    for (e, &(a, b)) in edges.iter().enumerate() {
        let (pa, pb) = (placed[a], placed[b]);
        let (x1, y1) = (pa.x + widths[a] / 2.0, pa.y + BOX_H);
        let (x2, y2) = (pb.x + widths[b] / 2.0, pb.y);
        // An edge that skips layers bows out to the right of the boxes it passes.
        let skips = (y2 - y1) > BOX_H + 1.5 * V_GAP;
        let bow = if skips {
            (widths[a].max(widths[b]) / 2.0 + 30.0).min(200.0)
        } else {
            0.0
        };
        let (c1, c2) = if skips {
            ((x1 + bow, y1 + V_GAP), (x2 + bow, y2 - V_GAP))
        } else {
            let my = (y1 + y2) / 2.0;
            ((x1, my), (x2, my))
        };
        let _ = writeln!(
            s,
            "<path class=\"edge\" stroke-width=\"{:.1}\" d=\"M{x1:.1},{y1:.1} C{:.1},{:.1} {:.1},{:.1} {x2:.1},{y2:.1}\"><title>{}</title></path>",
            edge_width(edge_bytes[e]),
            c1.0,
            c1.1,
            c2.0,
            c2.1,
            escape(&edge_titles[e])
        );
    }
    for (i, b) in boxes.iter().enumerate() {
        let p = placed[i];
        let mut class = match b.kind {
            Look::Input => "node input",
            Look::Boundary => "node boundary",
            Look::Integer => "node integer",
            Look::Float => "node float",
            Look::FloatInInteger => "node float-in-int",
        }
        .to_string();
        let fused = b.label.contains(" +");
        if fused {
            class.push_str(" fused");
        }
        let fill = b
            .sqnr_db
            .map(|db| format!(" style=\"fill:{}\"", sqnr_colour(db)))
            .unwrap_or_default();
        let _ = write!(
            s,
            "<g class=\"{class}\"><title>{}</title><rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{BOX_H:.1}\" rx=\"4\"{fill}/>",
            escape(&b.title),
            p.x,
            p.y,
            widths[i]
        );
        if fused {
            let _ = write!(
                s,
                "<rect class=\"inner\" x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" rx=\"3\"/>",
                p.x + 3.0,
                p.y + 3.0,
                widths[i] - 6.0,
                BOX_H - 6.0
            );
        }
        let cx = p.x + widths[i] / 2.0;
        let _ = writeln!(
            s,
            "<text x=\"{cx:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text><text class=\"detail\" x=\"{cx:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text></g>",
            p.y + 16.0,
            escape(&b.label),
            p.y + 30.0,
            escape(&b.detail)
        );
    }
    s.push_str("</g>\n</svg>\n");
    s
}

/// One line at the top: what the marks mean, and the SQNR scale when boxes are coloured by it.
fn legend(name: &str, sqnr: bool) -> String {
    let mut s = format!(
        "<text x=\"8\" y=\"18\">@{}   double border: absorbed ops (+batch_norm, +relu, +clamp, …)   dashed orange: float op in an integer graph   edge width: log2 of bytes</text>",
        escape(name)
    );
    if sqnr {
        s.push_str("\n<g class=\"sqnr-scale\">");
        for (i, db) in [5.0, 15.0, 25.0, 35.0, 45.0].iter().enumerate() {
            let x = 8.0 + i as f64 * 74.0;
            let _ = write!(
                s,
                "<rect x=\"{x:.1}\" y=\"26\" width=\"70\" height=\"16\" style=\"fill:{}\"/><text x=\"{:.1}\" y=\"38\">{db:.0} dB</text>",
                sqnr_colour(*db),
                x + 6.0
            );
        }
        s.push_str("</g>");
    }
    s
}
