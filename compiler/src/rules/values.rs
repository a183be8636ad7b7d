//! The numbers `qcc rules check` feeds a rule, and the seedable generator behind them: spread
//! over the whole float range, on both sides of every constant the rule mentions, and at the
//! edges (0, −0, ±1, tiny, huge), so that a rule that only holds for small values
//! (`clip(x) {min: 0, max: 6} => relu(x)`) meets a value that shows it wrong.

use dsl::ast::{
    AttrPatternValue, Clause, Expr, ExprKind, LiteralKind, OpPattern, Pattern, Rule, Term,
    TypeAnnKind,
};

/// SplitMix64: a tiny, portable, seedable generator, so that an instance is reproducible from
/// its seed on any machine.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next_u64() % (hi - lo + 1) as u64) as usize
    }
    pub fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.range(0, xs.len() - 1)]
    }
    pub fn coin(&mut self) -> bool {
        self.next_u64() & 1 == 1
    }
    /// Uniform in [-1, 1).
    pub fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
}

/// Every number written in the rule: attribute literals of the pattern, numbers in guards, lets,
/// the replacement and its attributes. Deduplicated, in first-seen order.
pub fn mentioned(rule: &Rule) -> Vec<f32> {
    let mut out: Vec<f32> = vec![];
    let mut add = |v: f64| {
        let v = v as f32;
        if v.is_finite() && !out.contains(&v) {
            out.push(v);
        }
    };
    pattern_numbers(&rule.pattern, &mut add);
    for c in &rule.clauses {
        match c {
            Clause::Where { guards, .. } => guards.iter().for_each(|g| expr_numbers(g, &mut add)),
            Clause::Let { value, .. } => expr_numbers(value, &mut add),
        }
    }
    term_numbers(&rule.replacement, &mut add);
    out
}

fn literal_numbers(l: &LiteralKind, add: &mut impl FnMut(f64)) {
    match l {
        LiteralKind::Int(i) => add(*i as f64),
        LiteralKind::Float(f) => add(*f),
        LiteralKind::Bool(_) | LiteralKind::Str(_) => {}
        LiteralKind::List(items) => items.iter().for_each(|i| literal_numbers(&i.kind, add)),
    }
}

fn pattern_numbers(p: &OpPattern, add: &mut impl FnMut(f64)) {
    for e in p.attrs.iter().flat_map(|a| &a.entries) {
        if let AttrPatternValue::Literal(l) = &e.value {
            literal_numbers(&l.kind, add);
        }
    }
    for o in &p.operands {
        if let Pattern::Op(sub) = o {
            pattern_numbers(sub, add);
        }
    }
}

fn expr_numbers(e: &Expr, add: &mut impl FnMut(f64)) {
    match &e.kind {
        ExprKind::Int(i) => add(*i as f64),
        ExprKind::Float(f) => add(*f),
        ExprKind::Var(_) | ExprKind::Bool(_) | ExprKind::Str(_) | ExprKind::DType(_) => {}
        ExprKind::List(items) => items.iter().for_each(|i| expr_numbers(i, add)),
        ExprKind::Unary { operand, .. } => expr_numbers(operand, add),
        ExprKind::Binary { lhs, rhs, .. } => {
            expr_numbers(lhs, add);
            expr_numbers(rhs, add);
        }
        ExprKind::Call { args, .. } => args.iter().for_each(|a| expr_numbers(a, add)),
        ExprKind::Index { base, index } => {
            expr_numbers(base, add);
            expr_numbers(index, add);
        }
        ExprKind::Broadcast { base, .. } => expr_numbers(base, add),
    }
}

fn term_numbers(t: &Term, add: &mut impl FnMut(f64)) {
    match t {
        Term::Expr(e) => expr_numbers(e, add),
        Term::Op(o) => {
            o.operands.iter().for_each(|t| term_numbers(t, add));
            for a in o.attrs.iter().flat_map(|a| &a.entries) {
                expr_numbers(&a.value, add);
            }
            if let Some(TypeAnnKind::Quant {
                scale, zero_point, ..
            }) = o.ty.as_ref().map(|t| &t.kind)
            {
                expr_numbers(scale, add);
                expr_numbers(zero_point, add);
            }
        }
    }
}

/// Edge values: signed zeros, ±1, the smallest normal magnitudes and large ones that still leave
/// room for a few products and sums before f32 overflows.
const EDGES: &[f32] = &[0.0, -0.0, 1.0, -1.0, 1.2e-38, -1.2e-38, 1e-7, 1e18, -1e18];

/// Offsets on both sides of a mentioned constant: just past it, and clearly past it.
const NEAR: &[f32] = &[1e-3, 0.25, 1.0, 4.0];

/// Draws one f32 activation value. Only `wide` instances reach far out (magnitudes up to 10⁶
/// and ±10¹⁸): the tolerance is relative to the largest value of the result, so one huge value
/// would hide an error of ordinary size elsewhere (a padded border that sees the wrong fill).
pub fn draw(rng: &mut Rng, mentioned: &[f32], wide: bool) -> f32 {
    let reach = if wide { 6.0 } else { 1.5 };
    let edges = if wide { EDGES } else { &EDGES[..7] };
    match rng.range(0, 19) {
        // The bulk: moderate values, where most arithmetic is exercised.
        0..=8 => rng.unit() * 3.0,
        // Beside a constant of the rule, above or below it.
        9..=13 if !mentioned.is_empty() => {
            let c = rng.pick(mentioned);
            let d = rng.pick(NEAR) * c.abs().max(1.0);
            if rng.coin() {
                c + d
            } else {
                c - d
            }
        }
        // Anywhere in the float range: magnitude 10^[-6, 6] (narrow: 10^[-1.5, 1.5]).
        14..=17 => {
            let m = 10f32.powf(rng.unit() * reach);
            if rng.coin() {
                m
            } else {
                -m
            }
        }
        _ => rng.pick(edges),
    }
}

/// A variance-like positive value: mostly moderate, sometimes tiny (where an ε under or outside
/// a square root matters) or large.
pub fn draw_positive(rng: &mut Rng) -> f32 {
    match rng.range(0, 7) {
        0 => 10f32.powf(rng.unit() * 3.0 - 4.0),
        1 => 10f32.powf(rng.unit() * 2.0 + 2.0),
        _ => rng.unit().abs() * 2.0 + 0.1,
    }
}

/// Constants a top-level guard pins to one number (`all(c == 3.0)`, `c == 3.0`): the sampler
/// fills them with it, as a random fill would almost never satisfy the guard.
pub fn pinned(rule: &Rule) -> Vec<(String, f32)> {
    fn number(e: &Expr) -> Option<f32> {
        match &e.kind {
            ExprKind::Int(i) => Some(*i as f32),
            ExprKind::Float(f) => Some(*f as f32),
            ExprKind::Unary {
                op: dsl::ast::UnaryOp::Neg,
                operand,
            } => number(operand).map(|v| -v),
            _ => None,
        }
    }
    fn walk(e: &Expr, out: &mut Vec<(String, f32)>) {
        match &e.kind {
            ExprKind::Call { func, args } if func.name == "all" && args.len() == 1 => {
                walk(&args[0], out)
            }
            ExprKind::Binary {
                op: dsl::ast::BinaryOp::And,
                lhs,
                rhs,
            } => {
                walk(lhs, out);
                walk(rhs, out);
            }
            ExprKind::Binary {
                op: dsl::ast::BinaryOp::Eq,
                lhs,
                rhs,
            } => match (&lhs.kind, number(rhs), number(lhs), &rhs.kind) {
                (ExprKind::Var(v), Some(n), _, _) | (_, _, Some(n), ExprKind::Var(v)) => {
                    out.push((v.clone(), n))
                }
                _ => {}
            },
            // `abs(v - c) < ε`: a constant pinned to c within a tolerance (a constant an
            // exporter wrote in decimal, √(2/π) as 0.7978846, compared as f64).
            ExprKind::Binary {
                op: dsl::ast::BinaryOp::Lt | dsl::ast::BinaryOp::Le,
                lhs,
                ..
            } => out.extend(distance(lhs)),
            _ => {}
        }
    }
    /// `abs(v - c)`: the variable and the number.
    fn distance(e: &Expr) -> Option<(String, f32)> {
        let ExprKind::Call { func, args } = &e.kind else {
            return None;
        };
        let [arg] = args.as_slice() else { return None };
        let ExprKind::Binary {
            op: dsl::ast::BinaryOp::Sub,
            lhs,
            rhs,
        } = &arg.kind
        else {
            return None;
        };
        match (func.name.as_str(), &lhs.kind) {
            ("abs", ExprKind::Var(v)) => Some((v.clone(), number(rhs)?)),
            _ => None,
        }
    }
    let mut out = vec![];
    for c in &rule.clauses {
        if let Clause::Where { guards, .. } = c {
            guards.iter().for_each(|g| walk(g, &mut out));
        }
    }
    out
}
