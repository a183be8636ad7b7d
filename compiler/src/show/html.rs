//! `--report-html FILE`: one self-contained HTML page of what a compile did, for reading at a
//! glance what `--explain` and `--report` print as text: the time of each stage, the integer
//! graph (`qcc show`'s drawing, coloured by SQNR), each layer's SQNR as a bar chart, which rules
//! fired on which values, and each activation's calibration histogram with the range chosen
//! for it.
//!
//! The page loads nothing (no script, no font, no image file: every chart is inline SVG) so it
//! can be mailed or committed and opens offline. Its bytes depend only on the compile, except
//! the stage times: every line that holds a time carries `class="time"`, so a snapshot can
//! redact exactly those lines.

use super::plot::{histogram, num, sqnr_chart, SqnrBar};
use super::svg::{escape, STYLE as GRAPH_STYLE};
use crate::egraph::saturate::Report as SaturationReport;
use crate::ir::Model;
use crate::pipeline::Compiled;
use crate::quant::ranges::observed_tensors;
use crate::quant::WeightBits;
use std::collections::BTreeMap;
use std::fmt::Write;

const PAGE_STYLE: &str = "\
body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1400px}
h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ccc}
h3{font-size:15px}
table{border-collapse:collapse;font-size:13px}
td,th{padding:2px 8px;text-align:left;vertical-align:top;border-bottom:1px solid #eee}
td.n{text-align:right;font-variant-numeric:tabular-nums}
td.tbar{width:400px}
.timebar{background:#7aa6d8;height:10px}
.scroll{overflow:auto;max-height:900px;border:1px solid #ddd}
.hists{display:flex;flex-wrap:wrap;gap:6px}
.hists svg{border:1px solid #eee}
.where{font-family:monospace;font-size:12px}
pre{background:#f6f6f6;padding:8px;font-size:12px;overflow:auto}
.plot text{font-family:monospace;font-size:11px;fill:#222}
.plot text.axis{fill:#666;font-size:10px}
.plot text.name{font-weight:bold}
.plot rect{stroke:none}
.plot rect.count{fill:#4f7cb3}
.plot rect.clipped{fill:#e8a0a0;fill-opacity:.35}
.plot line.clip{stroke:#c0392b;stroke-width:1.5;stroke-dasharray:4 2}
.plot line.base{stroke:#999}
.plot line.grid{stroke:#ddd}
.plot .bar:hover rect{stroke:#1f5fbf;stroke-width:1}
";

/// The page. `source` is the model as read (its op names show what each op absorbed);
/// `about` is shown under the title as label/value pairs (model file, target, …).
pub fn page(source: &Model, compiled: &Compiled, about: &[(&str, String)]) -> String {
    let report = &compiled.report;
    let mut s = String::new();
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>qcc report: @{}</title>\n<style>\n{PAGE_STYLE}</style>\n</head>\n<body>\n<h1>qcc report: @{}</h1>\n",
        escape(&source.name),
        escape(&source.name)
    );
    s.push_str("<table class=\"about\">\n");
    for (k, v) in about {
        let _ = writeln!(s, "<tr><th>{}</th><td>{}</td></tr>", escape(k), escape(v));
    }
    if let Some(bits) = report.weight_bits {
        let n = if bits == WeightBits::Eight { 8 } else { 7 };
        let _ = writeln!(s, "<tr><th>weights</th><td>{n}-bit, per channel</td></tr>");
    }
    if let Some(r) = &report.ranges {
        let _ = writeln!(s, "<tr><th>ranges</th><td>{}</td></tr>", escape(&r.method));
    }
    s.push_str("</table>\n");
    s.push_str("<p><a href=\"#times\">stage times</a> · <a href=\"#graph\">graph</a> · <a href=\"#sqnr\">SQNR per layer</a> · <a href=\"#rules\">rules fired</a> · <a href=\"#ranges\">activation ranges</a></p>\n");
    times(&mut s, compiled);
    graph(&mut s, source, compiled);
    sqnr(&mut s, compiled);
    rules(&mut s, compiled);
    ranges(&mut s, compiled);
    s.push_str("</body>\n</html>\n");
    s
}

/// Each stage's wall time as a row with a bar, the longest stage full width.
fn times(s: &mut String, compiled: &Compiled) {
    let times = &compiled.report.times;
    s.push_str("<section id=\"times\">\n<h2>Stage times</h2>\n<table>\n<tr><th>stage</th><th>ms</th><th></th></tr>\n");
    let longest = times
        .iter()
        .map(|(_, d)| d.as_secs_f64())
        .fold(0.0, f64::max)
        .max(1e-9);
    let mut total = 0.0;
    for (stage, d) in times {
        let secs = d.as_secs_f64();
        total += secs;
        let _ = writeln!(
            s,
            "<tr class=\"time\"><td>{stage}</td><td class=\"n\">{:.1}</td><td class=\"tbar\"><div class=\"timebar\" style=\"width:{:.1}%\"></div></td></tr>",
            secs * 1e3,
            100.0 * secs / longest
        );
    }
    let _ = writeln!(
        s,
        "<tr class=\"time\"><th>total</th><td class=\"n\">{:.1}</td><td></td></tr>",
        total * 1e3
    );
    s.push_str("</table>\n<p>Wall time of each pipeline stage (code generation and linking are not part of it). Calibration runs the float model over every sample in the interpreter.</p>\n</section>\n");
}

/// The integer graph as `qcc show --color sqnr` draws it. Its style sheet is scoped to the
/// drawing: inline SVG styles apply to the whole page, and the charts have their own.
fn graph(s: &mut String, source: &Model, compiled: &Compiled) {
    s.push_str("<section id=\"graph\">\n<h2>Integer graph</h2>\n");
    let Some(int) = &compiled.int else {
        s.push_str("<p>The pipeline stopped before the integer model.</p>\n</section>\n");
        return;
    };
    let sqnr = sqnr_by_name(compiled);
    let svg = super::render(int, Some(source), sqnr.as_ref());
    let scoped: String = GRAPH_STYLE
        .lines()
        .map(|l| format!("#graph {l}\n"))
        .collect();
    s.push_str("<p>Hover a box for its op, attributes, types and quantization parameters. Boxes are coloured by their layer's SQNR; a double border marks an op that absorbed others, a dashed orange one a float op left in the integer graph.</p>\n<div class=\"scroll\">\n");
    s.push_str(&svg.replacen(GRAPH_STYLE, &scoped, 1));
    s.push_str("</div>\n</section>\n");
}

fn sqnr_by_name(compiled: &Compiled) -> Option<BTreeMap<String, f64>> {
    compiled
        .report
        .layers
        .as_ref()
        .map(|layers| layers.iter().map(|l| (l.name.clone(), l.sqnr_db)).collect())
}

/// Each layer's SQNR in the model's order (where along the network precision goes), then the
/// worst five by name.
fn sqnr(s: &mut String, compiled: &Compiled) {
    s.push_str("<section id=\"sqnr\">\n<h2>SQNR per layer</h2>\n");
    let Some(layers) = &compiled.report.layers else {
        s.push_str("<p>Not measured (it needs calibration samples).</p>\n</section>\n");
        return;
    };
    let order: BTreeMap<&str, usize> = compiled
        .float
        .topo_order()
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, id)| (compiled.float.node(id).name.as_str(), i))
        .collect();
    let mut in_order: Vec<_> = layers.iter().collect();
    in_order.sort_by_key(|l| (order.get(l.name.as_str()).copied(), l.name.clone()));
    let bars: Vec<SqnrBar> = in_order
        .iter()
        .map(|l| SqnrBar {
            label: format!("%{} {}", l.name, l.op),
            db: l.sqnr_db,
        })
        .collect();
    s.push_str("<p>Signal-to-quantization-noise ratio of each layer's dequantized integer output against the float model's, over the calibration samples, in model order (errors add up along the network).</p>\n");
    s.push_str(&sqnr_chart(&bars));
    s.push_str(
        "<h3>Worst layers</h3>\n<table>\n<tr><th>value</th><th>op</th><th>SQNR (dB)</th></tr>\n",
    );
    // `layers` is worst first.
    for l in layers.iter().take(5) {
        let _ = writeln!(
            s,
            "<tr><td>%{}</td><td>{}</td><td class=\"n\">{}</td></tr>",
            escape(&l.name),
            escape(&l.op),
            if l.sqnr_db.is_finite() {
                format!("{:.1}", l.sqnr_db)
            } else {
                "exact".into()
            }
        );
    }
    s.push_str("</table>\n</section>\n");
}

/// Both rewriting stages: how saturation went, each rule that fired with the values it
/// rewrote, the rules that built an ill-typed replacement, and `--explain`'s full text.
fn rules(s: &mut String, compiled: &Compiled) {
    s.push_str("<section id=\"rules\">\n<h2>Rules fired</h2>\n");
    let stages: [(&str, Option<&SaturationReport>, Option<&Model>); 2] = [
        (
            "simplify (float graph)",
            compiled.report.simplify.as_ref(),
            Some(&compiled.float),
        ),
        (
            "lower (QDQ to integer)",
            compiled.report.lowering.as_ref(),
            compiled.int.as_ref(),
        ),
    ];
    for (title, report, out) in stages {
        let (Some(r), Some(out)) = (report, out) else {
            continue;
        };
        let _ = writeln!(s, "<h3>{title}</h3>");
        let change = if r.cost_before > 0.0 {
            100.0 * (r.cost_after / r.cost_before - 1.0)
        } else {
            0.0
        };
        let _ = writeln!(
            s,
            "<p>Saturation: {} after {} iterations; e-graph of {} nodes in {} classes; cost (MACs + bytes written) {} → {} ({change:+.1}%).</p>",
            escape(&r.stop.to_string()),
            r.iterations,
            r.nodes,
            r.classes,
            num(r.cost_before),
            num(r.cost_after)
        );
        let fired: Vec<(&String, &usize)> = r.fired.iter().filter(|(_, &n)| n > 0).collect();
        if fired.is_empty() {
            let _ = writeln!(s, "<p>No rule fired ({} tried).</p>", r.fired.len());
        } else {
            s.push_str("<table>\n<tr><th>rule</th><th>fired</th><th>on values</th></tr>\n");
            for (name, n) in &fired {
                let at = r.fired_at.get(*name);
                let _ = writeln!(
                    s,
                    "<tr><td>{}</td><td class=\"n\">{n}</td><td class=\"where\">{}</td></tr>",
                    escape(name),
                    at.map(where_fired).unwrap_or_default()
                );
            }
            s.push_str("</table>\n");
            let _ = writeln!(
                s,
                "<p>{} other rules did not fire.</p>",
                r.fired.len() - fired.len()
            );
        }
        for (name, why) in &r.refused {
            let _ = writeln!(s, "<p>Refused {}: {}</p>", escape(name), escape(why));
        }
        let _ = writeln!(
            s,
            "<details><summary>--explain</summary><pre>{}</pre></details>",
            escape(&crate::explain::explain(r, out))
        );
    }
    let report = &compiled.report;
    if !report.warnings.is_empty() || !report.float_ops.is_empty() {
        s.push_str("<h3>Quantizer</h3>\n<ul>\n");
        for w in &report.warnings {
            let _ = writeln!(s, "<li>warning: {}</li>", escape(&w.to_string()));
        }
        for (name, kind) in &report.float_ops {
            let _ = writeln!(
                s,
                "<li>stays float: %{} ({})</li>",
                escape(name),
                escape(kind)
            );
        }
        s.push_str("</ul>\n");
    }
    s.push_str("</section>\n");
}

/// The values a rule rewrote: the first twelve, the rest folded away.
fn where_fired(at: &crate::egraph::saturate::FiredAt) -> String {
    const SHOWN: usize = 12;
    let names: Vec<String> = at
        .values
        .iter()
        .map(|v| format!("%{}", escape(v)))
        .collect();
    let mut out = names
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        let _ = write!(
            out,
            " <details><summary>{} more</summary>{}</details>",
            names.len() - SHOWN,
            names[SHOWN..].join(", ")
        );
    }
    if at.unnamed > 0 {
        if !out.is_empty() {
            out.push_str("; ");
        }
        let _ = write!(out, "{} on values rewrites created", at.unnamed);
    }
    out
}

/// Each observed tensor's histogram in the float model's order.
fn ranges(s: &mut String, compiled: &Compiled) {
    s.push_str("<section id=\"ranges\">\n<h2>Activation ranges</h2>\n");
    let (Some(hists), Some(ranges)) = (&compiled.report.histograms, &compiled.report.ranges) else {
        s.push_str(
            "<p>No histograms: the ranges did not come from calibration samples.</p>\n</section>\n",
        );
        return;
    };
    let _ = writeln!(
        s,
        "<p>The values each tensor took on the calibration samples (bar heights on a log scale) and the range chosen for its 8-bit grid ({}): dashed lines, with what it clips shaded. The grid is then widened to contain 0.</p>\n<div class=\"hists\">",
        escape(&ranges.method)
    );
    let float = &compiled.float;
    for id in observed_tensors(float) {
        let node = float.node(id);
        let Some(h) = hists.get(&node.name) else {
            continue;
        };
        let op = node.op().map_or("input", |o| o.kind.name());
        s.push_str(&histogram(&node.name, op, h, ranges.get(&node.name)));
    }
    s.push_str("</div>\n</section>\n");
}
