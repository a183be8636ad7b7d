//! "Did you mean …?": the names closest to a misspelt one, by edit distance.

/// Edit distance over chars where swapping two neighbours counts as one edit (`rleu` is one
/// edit from `relu`): the optimal string alignment distance.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // Three rows: i - 2, i - 1, i.
    let mut rows = [
        vec![0; b.len() + 1],
        (0..=b.len()).collect::<Vec<_>>(),
        vec![0; b.len() + 1],
    ];
    for i in 1..=a.len() {
        rows[2][0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (rows[1][j - 1] + cost)
                .min(rows[1][j] + 1)
                .min(rows[2][j - 1] + 1);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(rows[0][j - 2] + 1);
            }
            rows[2][j] = d;
        }
        rows.rotate_left(1);
    }
    rows[1][b.len()]
}

/// Up to `max` candidates close enough to `name` to be what was meant, closest first (ties in
/// the candidates' order). Close enough: at most a third of the name's length edited, or one
/// name (of at least 3 chars) contains the other.
pub fn closest<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
    max: usize,
) -> Vec<&'a str> {
    let limit = (name.chars().count() / 3).max(1);
    let mut scored: Vec<(usize, usize, &str)> = candidates
        .into_iter()
        .enumerate()
        .filter_map(|(i, c)| {
            let d = edit_distance(name, c);
            let long_enough = name.chars().count() >= 3 && c.chars().count() >= 3;
            let related = d <= limit || (long_enough && (c.contains(name) || name.contains(c)));
            (related && c != name).then_some((d, i, c))
        })
        .collect();
    scored.sort();
    scored.into_iter().take(max).map(|(_, _, c)| c).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(edit_distance("", ""), 0);
        assert_eq!(edit_distance("conv", "conv2d"), 2);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("relu", "rleu"), 1);
        assert_eq!(edit_distance("ab", "ba"), 1);
        assert_eq!(edit_distance("abc", ""), 3);
    }

    #[test]
    fn suggestions_are_close_names_only() {
        let ops = ["conv2d", "conv_transpose2d", "relu", "max_pool", "avg_pool"];
        assert_eq!(closest("conv2", ops, 3), vec!["conv2d"]);
        assert_eq!(closest("maxpool", ops, 3), vec!["max_pool"]);
        assert_eq!(closest("rleu", ops, 3), vec!["relu"]);
        assert_eq!(closest("softplus", ops, 3), Vec::<&str>::new());
        assert_eq!(closest("gamma", ["a", "b"], 3), Vec::<&str>::new());
    }
}
