//! A layered drawing of a DAG (Sugiyama's scheme, kept small): each node on the layer of its
//! longest path from a source, each layer ordered by a few sweeps of the barycenter heuristic,
//! then packed left to right and centred. Ties break by the node's index, so one graph always
//! gets one drawing.

/// Where a node goes: the top-left corner of its box.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Placed {
    pub x: f64,
    pub y: f64,
}

/// Gaps between boxes, and the height of one.
pub const H_GAP: f64 = 24.0;
pub const V_GAP: f64 = 44.0;
pub const BOX_H: f64 = 38.0;
const SWEEPS: usize = 4;

/// Lays out nodes `0..widths.len()` (in a topological order: every edge goes from a lower index
/// to a higher one) with the given box widths. Returns each node's corner and the drawing's
/// width and height.
pub fn layout(widths: &[f64], edges: &[(usize, usize)]) -> (Vec<Placed>, f64, f64) {
    let n = widths.len();
    let mut preds: Vec<Vec<usize>> = vec![vec![]; n];
    let mut succs: Vec<Vec<usize>> = vec![vec![]; n];
    for &(a, b) in edges {
        preds[b].push(a);
        succs[a].push(b);
    }
    let mut layer = vec![0usize; n];
    for v in 0..n {
        layer[v] = preds[v].iter().map(|&p| layer[p] + 1).max().unwrap_or(0);
    }
    let depth = layer.iter().max().map_or(0, |&d| d + 1);
    let mut rows: Vec<Vec<usize>> = vec![vec![]; depth];
    for v in 0..n {
        rows[layer[v]].push(v);
    }
    // Position of each node within its row, refined by sweeps down (by predecessors) and up (by
    // successors).
    let mut pos = vec![0f64; n];
    let renumber = |rows: &Vec<Vec<usize>>, pos: &mut Vec<f64>| {
        for row in rows {
            for (i, &v) in row.iter().enumerate() {
                pos[v] = i as f64;
            }
        }
    };
    renumber(&rows, &mut pos);
    for sweep in 0..SWEEPS {
        let down = sweep % 2 == 0;
        let order: Vec<usize> = if down {
            (1..depth).collect()
        } else {
            (0..depth.saturating_sub(1)).rev().collect()
        };
        for r in order {
            let key = |v: usize| {
                let nb = if down { &preds[v] } else { &succs[v] };
                if nb.is_empty() {
                    pos[v]
                } else {
                    nb.iter().map(|&u| pos[u]).sum::<f64>() / nb.len() as f64
                }
            };
            let mut keyed: Vec<(f64, usize)> = rows[r].iter().map(|&v| (key(v), v)).collect();
            keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            rows[r] = keyed.into_iter().map(|(_, v)| v).collect();
            for (i, &v) in rows[r].iter().enumerate() {
                pos[v] = i as f64;
            }
        }
    }
    let row_width = |row: &Vec<usize>| {
        row.iter().map(|&v| widths[v]).sum::<f64>() + H_GAP * row.len().saturating_sub(1) as f64
    };
    let width = rows.iter().map(row_width).fold(0f64, f64::max) + 2.0 * H_GAP;
    let mut placed = vec![Placed { x: 0.0, y: 0.0 }; n];
    for (r, row) in rows.iter().enumerate() {
        let mut x = (width - row_width(row)) / 2.0;
        for &v in row {
            placed[v] = Placed {
                x,
                y: V_GAP / 2.0 + r as f64 * (BOX_H + V_GAP),
            };
            x += widths[v] + H_GAP;
        }
    }
    let height = depth as f64 * (BOX_H + V_GAP);
    (placed, width, height)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_follow_longest_paths_and_rows_do_not_overlap() {
        // 0 → 1 → 3, 0 → 2 → 3, 0 → 3: node 3 sits two layers below 0.
        let widths = [50.0, 60.0, 70.0, 40.0];
        let (p, w, _) = layout(&widths, &[(0, 1), (0, 2), (1, 3), (2, 3), (0, 3)]);
        assert!(p[1].y == p[2].y && p[3].y > p[1].y && p[1].y > p[0].y);
        let (l, r) = if p[1].x < p[2].x { (1, 2) } else { (2, 1) };
        assert!(p[l].x + widths[l] + H_GAP <= p[r].x + 1e-9);
        assert!(p
            .iter()
            .zip(&widths)
            .all(|(q, &bw)| q.x >= 0.0 && q.x + bw <= w));
    }
}
