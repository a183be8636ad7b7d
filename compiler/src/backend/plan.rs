//! The memory plan: every buffer the library needs between its inputs and outputs placed in one
//! scratch arena by liveness, so buffers whose lifetimes do not overlap share bytes.

/// A buffer to place: its size and the steps (kernel calls) from its write to its last read.
#[derive(Clone, Debug)]
pub struct Request {
    pub size: usize,
    pub first: usize,
    pub last: usize,
}

/// Placements, in request order, and the arena they fit in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub offsets: Vec<usize>,
    pub arena: usize,
    /// The sum of all sizes: what the arena would be without reuse.
    pub total: usize,
}

/// Every offset and the arena size are multiples of this (a cache line, and the scratch
/// alignment the C ABI asks of the caller).
pub const ALIGN: usize = 64;

fn round_up(n: usize) -> usize {
    n.div_ceil(ALIGN) * ALIGN
}

/// Places the largest buffers first, each at the lowest offset where it overlaps no buffer already
/// placed whose lifetime meets its own (the greedy-by-size heuristic of TFLite's arena planner).
/// Ties are broken by request order, so the plan is deterministic.
pub fn plan(requests: &[Request]) -> Plan {
    let mut order: Vec<usize> = (0..requests.len()).collect();
    order.sort_by_key(|&i| (std::cmp::Reverse(requests[i].size), i));
    let mut offsets = vec![0; requests.len()];
    let mut placed: Vec<usize> = Vec::new();
    let mut arena = 0;
    for i in order {
        let r = &requests[i];
        let size = round_up(r.size.max(1));
        let mut busy: Vec<(usize, usize)> = placed
            .iter()
            .filter(|&&j| requests[j].first <= r.last && r.first <= requests[j].last)
            .map(|&j| (offsets[j], offsets[j] + round_up(requests[j].size.max(1))))
            .collect();
        busy.sort_unstable();
        let mut at = 0;
        for (lo, hi) in busy {
            if at + size <= lo {
                break;
            }
            at = at.max(hi);
        }
        offsets[i] = at;
        arena = arena.max(at + size);
        placed.push(i);
    }
    Plan {
        offsets,
        arena,
        total: requests.iter().map(|r| round_up(r.size.max(1))).sum(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_chain_reuses_two_buffers() {
        // a → b → c → d: each buffer lives from its write to the next step's read.
        let reqs: Vec<Request> = (0..4)
            .map(|i| Request {
                size: 1000,
                first: i,
                last: i + 1,
            })
            .collect();
        let p = plan(&reqs);
        assert_eq!(p.arena, 2 * 1024);
        assert_eq!(p.total, 4 * 1024);
    }

    proptest! {
        #[test]
        fn live_buffers_never_overlap(
            reqs in prop::collection::vec((1usize..5000, 0usize..20, 0usize..6), 1..30)
        ) {
            let reqs: Vec<Request> = reqs
                .into_iter()
                .map(|(size, first, len)| Request { size, first, last: first + len })
                .collect();
            let p = plan(&reqs);
            for (i, a) in reqs.iter().enumerate() {
                prop_assert_eq!(p.offsets[i] % ALIGN, 0);
                prop_assert!(p.offsets[i] + a.size <= p.arena);
                for (j, b) in reqs.iter().enumerate().skip(i + 1) {
                    let live = a.first <= b.last && b.first <= a.last;
                    let apart = p.offsets[i] + a.size <= p.offsets[j]
                        || p.offsets[j] + b.size <= p.offsets[i];
                    prop_assert!(!live || apart, "{i} and {j} overlap");
                }
            }
            prop_assert!(p.arena <= p.total);
        }
    }
}
