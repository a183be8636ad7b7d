//! Einsum decomposed at import into ops every later stage already has (transpose, reshape,
//! gather, `reduce {fn = "sum"}`, mul and matmul), so the interpreter, the quantizer and the
//! backend need nothing of their own for it.
//!
//! The equation is resolved to one label per axis (`...` becomes one label per broadcast axis,
//! counted from the right as numpy aligns them). Each operand first loses its repeated labels
//! (a diagonal, taken by a `gather` of constant flat indices) and its size-1 axes that another
//! operand broadcasts to a larger size (a broadcast axis does not depend on its index, so it is
//! the same as the label being absent there). Operands are then contracted left to right in
//! pairs: a label neither the other operand, a later operand nor the output needs is summed out
//! first; the labels both need are the batch of a `matmul` (or of a `mul` when nothing is
//! contracted), the labels both hold that nothing later needs are its inner dimension.
//!
//! An equation that sums nothing (a transpose, a diagonal, an outer or elementwise product) only
//! moves and multiplies, which the IR does on every numeric type; one that sums needs f32, the
//! type of `reduce` and `matmul`, and is refused on any other.

use super::attrs;
use crate::diag::Result;
use crate::import::constant::Const;
use crate::import::context::{Importer, Val, MAX_DIM};
use crate::import::node::OnnxNode;
use crate::ir::{Attr, ElemType, NodeId, OpKind};
use runtime::DType;
use std::collections::BTreeMap;

/// One axis of an operand or of the result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Label {
    /// An axis the ellipsis stands for, counted from the right (0 is the last one), so that
    /// operands with fewer broadcast axes line up as numpy broadcasting does.
    Broadcast(usize),
    Letter(char),
}

impl std::fmt::Display for Label {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Label::Letter(c) => write!(f, "letter `{c}`"),
            Label::Broadcast(k) => write!(f, "broadcast axis {k} from the right of `...`"),
        }
    }
}

/// One term of the equation as written: letters with at most one ellipsis among them.
#[derive(Clone, Debug, PartialEq)]
struct Term {
    letters: Vec<char>,
    /// Where `...` stands among the letters (the number of letters before it).
    ellipsis: Option<usize>,
}

/// An equation as written; `output` is `None` in implicit mode (no `->`).
#[derive(Clone, Debug, PartialEq)]
struct Equation {
    inputs: Vec<Term>,
    output: Option<Term>,
}

fn parse_term(s: &str, what: &str) -> Result<Term, String> {
    let mut letters = Vec::new();
    let mut ellipsis = None;
    let mut rest = s.chars().filter(|c| !c.is_whitespace()).peekable();
    while let Some(c) = rest.next() {
        match c {
            c if c.is_ascii_alphabetic() => letters.push(c),
            '.' => {
                if rest.next() != Some('.') || rest.next() != Some('.') {
                    return Err(format!(
                        "has a `.` in {what} `{s}` that is not part of `...`"
                    ));
                }
                if ellipsis.is_some() {
                    return Err(format!("has more than one `...` in {what} `{s}`"));
                }
                ellipsis = Some(letters.len());
            }
            c => {
                return Err(format!(
                "has `{c}` in {what} `{s}`; a term holds letters (a-z, A-Z) and at most one `...`"
            ))
            }
        }
    }
    Ok(Term { letters, ellipsis })
}

fn parse(equation: &str) -> Result<Equation, String> {
    let (lhs, rhs) = match equation.split_once("->") {
        Some((_, r)) if r.contains("->") => return Err("has more than one `->`".into()),
        Some((l, r)) => (l, Some(r)),
        None => (equation, None),
    };
    let inputs = lhs
        .split(',')
        .enumerate()
        .map(|(i, t)| parse_term(t, &format!("operand {i}'s term")))
        .collect::<Result<Vec<_>, _>>()?;
    let output = match rhs {
        Some(r) if r.contains(',') => {
            return Err("has a `,` in its output; Einsum has one result".into())
        }
        Some(r) => Some(parse_term(r, "the output term")?),
        None => None,
    };
    Ok(Equation { inputs, output })
}

/// The labels of each operand's axes and of the result's, given the operands' ranks.
fn resolve(eq: &Equation, ranks: &[usize]) -> Result<(Vec<Vec<Label>>, Vec<Label>), String> {
    if eq.inputs.len() != ranks.len() {
        return Err(format!(
            "has {} operand terms for {} inputs",
            eq.inputs.len(),
            ranks.len()
        ));
    }
    let mut inputs = Vec::with_capacity(ranks.len());
    let mut broadcast = 0;
    for (i, (t, &rank)) in eq.inputs.iter().zip(ranks).enumerate() {
        let named = t.letters.len();
        let spread = match t.ellipsis {
            Some(_) if rank >= named => rank - named,
            None if rank == named => 0,
            _ => {
                return Err(format!(
                    "writes {named} letters{} for operand {i}, which has rank {rank}",
                    if t.ellipsis.is_some() {
                        " and `...`"
                    } else {
                        ""
                    }
                ))
            }
        };
        broadcast = broadcast.max(spread);
        let at = t.ellipsis.unwrap_or(named);
        let mut labels: Vec<Label> = t.letters[..at].iter().map(|&c| Label::Letter(c)).collect();
        labels.extend((0..spread).rev().map(Label::Broadcast));
        labels.extend(t.letters[at..].iter().map(|&c| Label::Letter(c)));
        inputs.push(labels);
    }
    let output = match &eq.output {
        Some(t) => {
            if broadcast > 0 && t.ellipsis.is_none() {
                return Err(
                    "leaves `...` out of its output while the operands' `...` stand for axes; \
                     numpy and ONNX Runtime refuse that too"
                        .into(),
                );
            }
            let at = t.ellipsis.unwrap_or(t.letters.len());
            let mut labels: Vec<Label> =
                t.letters[..at].iter().map(|&c| Label::Letter(c)).collect();
            labels.extend((0..broadcast).rev().map(Label::Broadcast));
            labels.extend(t.letters[at..].iter().map(|&c| Label::Letter(c)));
            for (k, &c) in t.letters.iter().enumerate() {
                if t.letters[..k].contains(&c) {
                    return Err(format!("names letter `{c}` twice in its output"));
                }
                if !inputs.iter().flatten().any(|&l| l == Label::Letter(c)) {
                    return Err(format!(
                        "names letter `{c}` in its output but in no operand"
                    ));
                }
            }
            labels
        }
        None => {
            // Implicit mode: the broadcast axes, then the letters written exactly once, in ASCII
            // order (upper case first), as numpy does.
            let mut count: BTreeMap<char, usize> = BTreeMap::new();
            for t in &eq.inputs {
                for &c in &t.letters {
                    *count.entry(c).or_default() += 1;
                }
            }
            let mut labels: Vec<Label> = (0..broadcast).rev().map(Label::Broadcast).collect();
            labels.extend(
                count
                    .into_iter()
                    .filter(|&(_, k)| k == 1)
                    .map(|(c, _)| Label::Letter(c)),
            );
            labels
        }
    };
    Ok((inputs, output))
}

/// The size of each label over all operands: equal everywhere, or 1 where it broadcasts.
fn sizes(labels: &[Vec<Label>], shapes: &[Vec<usize>]) -> Result<BTreeMap<Label, usize>, String> {
    let mut size: BTreeMap<Label, (usize, usize)> = BTreeMap::new();
    for (i, (ls, shape)) in labels.iter().zip(shapes).enumerate() {
        for (axis, (&l, &d)) in ls.iter().zip(shape).enumerate() {
            // Within one operand a repeated label is a diagonal: no broadcasting there.
            if let Some(prev) = ls[..axis].iter().position(|&m| m == l) {
                if shape[prev] != d {
                    return Err(format!(
                        "repeats {l} in operand {i}, on axes of sizes {} and {d}; a diagonal needs equal sizes",
                        shape[prev]
                    ));
                }
            }
            match size.get(&l) {
                None => {
                    size.insert(l, (d, i));
                }
                Some(&(s, j)) if s != d && s != 1 && d != 1 => {
                    return Err(format!(
                        "gives {l} size {s} in operand {j} and size {d} in operand {i}"
                    ))
                }
                Some(&(s, _)) if s == 1 && d != 1 => {
                    size.insert(l, (d, i));
                }
                _ => {}
            }
        }
    }
    Ok(size.into_iter().map(|(l, (s, _))| (l, s)).collect())
}

/// A value under construction with the label of each of its axes.
struct Part {
    id: NodeId,
    labels: Vec<Label>,
}

/// Emits the ops of one Einsum node, each named after its output with a suffix.
struct Builder<'n, 'a> {
    n: &'n OnnxNode<'a>,
    out: &'a str,
    size: BTreeMap<Label, usize>,
    /// The operands' element type: moving and multiplying work on any of them, summing (reduce,
    /// matmul) on f32 only.
    elem: ElemType,
    /// Diagonals taken so far: each one's indices need a weight name of their own, as weights
    /// are shared by name.
    diagonals: std::cell::Cell<usize>,
}

impl Builder<'_, '_> {
    fn emit(
        &self,
        cx: &mut Importer,
        what: &str,
        kind: OpKind,
        a: crate::ir::Attrs,
        ops: &[NodeId],
    ) -> Result<NodeId> {
        cx.emit(self.n, &format!("{}.{what}", self.out), kind, a, ops)
    }

    fn reshape(&self, cx: &mut Importer, id: NodeId, shape: &[usize]) -> Result<NodeId> {
        if cx.ty(id).shape == shape {
            return Ok(id);
        }
        let s = shape.iter().map(|&d| d as i64).collect();
        self.emit(
            cx,
            "reshape",
            OpKind::Reshape,
            attrs([("shape", Attr::Ints(s))]),
            &[id],
        )
    }

    /// `p` with its axes in the order of `want` (a permutation of its labels).
    fn transpose(&self, cx: &mut Importer, p: Part, want: &[Label]) -> Result<Part> {
        let perm: Vec<i64> = want
            .iter()
            .map(|l| p.labels.iter().position(|m| m == l).unwrap_or(0) as i64)
            .collect();
        if perm.iter().enumerate().all(|(i, &a)| i as i64 == a) {
            return Ok(Part {
                id: p.id,
                labels: want.to_vec(),
            });
        }
        let id = self.emit(
            cx,
            "transpose",
            OpKind::Transpose,
            attrs([("perm", Attr::Ints(perm))]),
            &[p.id],
        )?;
        Ok(Part {
            id,
            labels: want.to_vec(),
        })
    }

    /// `p` summed over the labels `keep` rejects.
    fn sum_out(&self, cx: &mut Importer, p: Part, keep: impl Fn(Label) -> bool) -> Result<Part> {
        let axes: Vec<i64> = (0..p.labels.len())
            .filter(|&a| !keep(p.labels[a]))
            .map(|a| a as i64)
            .collect();
        if axes.is_empty() {
            return Ok(p);
        }
        let summed: Vec<Label> = axes.iter().map(|&a| p.labels[a as usize]).collect();
        self.summable(&summed)?;
        let id = self.emit(
            cx,
            "sum",
            OpKind::Reduce,
            attrs([
                ("fn", Attr::Str("sum".into())),
                ("axes", Attr::Ints(axes)),
                ("keepdims", Attr::Bool(false)),
            ]),
            &[p.id],
        )?;
        let labels = p.labels.into_iter().filter(|&l| keep(l)).collect();
        Ok(Part { id, labels })
    }

    /// `p` with each label once: a label on several axes keeps their diagonal. The axes move to
    /// the end and merge into one, whose diagonal elements sit `1 + d + … + d^(r−1)` apart.
    fn diagonals(&self, cx: &mut Importer, mut p: Part) -> Result<Part> {
        while let Some(l) = (0..p.labels.len())
            .map(|a| p.labels[a])
            .find(|l| p.labels.iter().filter(|&m| m == l).count() > 1)
        {
            // The operand's own sizes: a diagonal of size 1 may broadcast against another operand.
            let now = cx.ty(p.id).shape.clone();
            let d = p.labels.iter().position(|&m| m == l).map_or(1, |a| now[a]);
            let others: Vec<Label> = p.labels.iter().copied().filter(|&m| m != l).collect();
            let r = p.labels.len() - others.len();
            let flat = d
                .checked_pow(r as u32)
                .filter(|&f| f <= MAX_DIM)
                .ok_or_else(|| {
                    self.n.fail(format!(
                        "takes the diagonal of {r} axes of size {d} ({l}), an implausibly large block"
                    ))
                })?;
            let perm = order_perm(&p.labels, l);
            let moved = if perm.iter().enumerate().all(|(i, &a)| i as i64 == a) {
                p.id
            } else {
                self.emit(
                    cx,
                    "transpose",
                    OpKind::Transpose,
                    attrs([("perm", Attr::Ints(perm))]),
                    &[p.id],
                )?
            };
            let mut shape: Vec<usize> = (0..now.len())
                .filter(|&a| p.labels[a] != l)
                .map(|a| now[a])
                .collect();
            shape.push(flat);
            let merged = self.reshape(cx, moved, &shape)?;
            let step = (0..r).fold(0usize, |s, _| s * d + 1);
            let indices: Vec<i32> = (0..d).map(|k| (k * step) as i32).collect();
            let c = Const::I32(
                ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&[d]), indices)
                    .expect("one index per element"),
            );
            let k = self.diagonals.replace(self.diagonals.get() + 1);
            let w = cx
                .weight(&format!("{}.diagonal{k}", self.out), &c, ElemType::I32)
                .map_err(|m| self.n.fail(m))?;
            let id = self.emit(
                cx,
                "diagonal",
                OpKind::Gather,
                attrs([("axis", Attr::Int(others.len() as i64))]),
                &[merged, w],
            )?;
            let mut labels = others;
            labels.push(l);
            p = Part { id, labels };
        }
        Ok(p)
    }

    /// `p` without the size-1 axes whose label is larger elsewhere (they broadcast).
    fn unbroadcast(&self, cx: &mut Importer, p: Part) -> Result<Part> {
        let shape = cx.ty(p.id).shape.clone();
        let keep: Vec<usize> = (0..p.labels.len())
            .filter(|&a| !(shape[a] == 1 && self.size_of(p.labels[a]) != 1))
            .collect();
        if keep.len() == p.labels.len() {
            return Ok(p);
        }
        let new: Vec<usize> = keep.iter().map(|&a| shape[a]).collect();
        let id = self.reshape(cx, p.id, &new)?;
        let labels = keep.iter().map(|&a| p.labels[a]).collect();
        Ok(Part { id, labels })
    }

    /// Refuses a sum over `labels` unless the values are f32, the one type `reduce` and `matmul`
    /// take.
    fn summable(&self, labels: &[Label]) -> Result<()> {
        if self.elem == ElemType::F32 {
            return Ok(());
        }
        let what: Vec<String> = labels.iter().map(|l| l.to_string()).collect();
        Err(self.n.fail(format!(
            "sums over {} of {} values; qcc sums (reduce, matmul) f32 values only",
            what.join(", "),
            self.elem
        )))
    }

    fn size_of(&self, l: Label) -> usize {
        self.size.get(&l).copied().unwrap_or(1)
    }

    fn dims(&self, ls: &[Label]) -> Vec<usize> {
        ls.iter().map(|&l| self.size_of(l)).collect()
    }

    /// `a · b` summed over the labels both hold that `needed` does not list. A matmul's result
    /// holds the batch labels, then `a`'s own, then `b`'s own; a mul's holds `a`'s, then `b`'s
    /// own.
    fn contract(&self, cx: &mut Importer, a: Part, b: Part, needed: &[Label]) -> Result<Part> {
        let wanted = |l: Label, other: &Part| needed.contains(&l) || other.labels.contains(&l);
        let a = self.sum_out(cx, a, |l| wanted(l, &b))?;
        let b = self.sum_out(cx, b, |l| wanted(l, &a))?;
        let batch: Vec<Label> = a
            .labels
            .iter()
            .copied()
            .filter(|l| b.labels.contains(l) && needed.contains(l))
            .collect();
        let inner: Vec<Label> = a
            .labels
            .iter()
            .copied()
            .filter(|l| b.labels.contains(l) && !needed.contains(l))
            .collect();
        let left: Vec<Label> = a
            .labels
            .iter()
            .copied()
            .filter(|l| !b.labels.contains(l))
            .collect();
        let right: Vec<Label> = b
            .labels
            .iter()
            .copied()
            .filter(|l| !a.labels.contains(l))
            .collect();
        if inner.is_empty() {
            // Nothing to sum: an elementwise product that broadcasts. `a` keeps its axes and
            // gains size-1 ones for `b`'s own labels; `b` follows that order, size 1 where `a`
            // alone has a label (leading ones left out: broadcasting aligns from the right).
            let result: Vec<Label> = a.labels.iter().chain(&right).copied().collect();
            let mut sa = self.dims(&a.labels);
            sa.extend(std::iter::repeat_n(1, right.len()));
            let ra = self.reshape(cx, a.id, &sa)?;
            let order: Vec<Label> = result
                .iter()
                .copied()
                .filter(|l| b.labels.contains(l))
                .collect();
            let b = self.transpose(cx, b, &order)?;
            let first = result
                .iter()
                .position(|l| b.labels.contains(l))
                .unwrap_or(result.len());
            let sb: Vec<usize> = result[first..]
                .iter()
                .map(|&l| {
                    if b.labels.contains(&l) {
                        self.size_of(l)
                    } else {
                        1
                    }
                })
                .collect();
            let rb = self.reshape(cx, b.id, &sb)?;
            let id = self.emit(cx, "mul", OpKind::Mul, attrs([]), &[ra, rb])?;
            return Ok(Part { id, labels: result });
        }
        self.summable(&inner)?;
        let result: Vec<Label> = [&batch[..], &left, &right].concat();
        let a = self.transpose(cx, a, &[&batch[..], &left, &inner].concat())?;
        let b = self.transpose(cx, b, &[&batch[..], &inner, &right].concat())?;
        let (l, k, r) = (
            self.dims(&left).iter().product::<usize>(),
            self.dims(&inner).iter().product::<usize>(),
            self.dims(&right).iter().product::<usize>(),
        );
        let mut shape = self.dims(&batch);
        let ra = self.reshape(cx, a.id, &[shape.clone(), vec![l, k]].concat())?;
        let rb = self.reshape(cx, b.id, &[shape.clone(), vec![k, r]].concat())?;
        let m = self.emit(cx, "matmul", OpKind::MatMul, attrs([]), &[ra, rb])?;
        shape.extend(self.dims(&left));
        shape.extend(self.dims(&right));
        let id = self.reshape(cx, m, &shape)?;
        Ok(Part { id, labels: result })
    }
}

/// The permutation that moves every axis labelled `l` after the others, keeping their order.
fn order_perm(labels: &[Label], l: Label) -> Vec<i64> {
    let (mut rest, mut moved) = (Vec::new(), Vec::new());
    for (a, &m) in labels.iter().enumerate() {
        if m == l {
            moved.push(a as i64);
        } else {
            rest.push(a as i64);
        }
    }
    rest.extend(moved);
    rest
}

pub fn einsum(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    let equation = n
        .string("equation")?
        .ok_or_else(|| n.fail("has no `equation`"))?;
    let wrong = |m: String| n.fail(format!("has equation `{equation}`, which {m}"));
    let eq = parse(&equation).map_err(wrong)?;
    let count = n.proto.input.len();
    if count == 0 {
        return Err(n.fail("has no inputs"));
    }
    let mut ids = Vec::with_capacity(count);
    for i in 0..count {
        let id = cx.operand(n, i, "an operand")?;
        let elem = cx.ty(id).elem.clone();
        if matches!(elem, ElemType::Quant(_) | ElemType::Other(DType::Bool)) {
            return Err(n.fail(format!(
                "contracts an operand of type {elem} (input {i}); Einsum multiplies, and qcc does not multiply {elem} values"
            )));
        }
        if let Some(&first) = ids.first() {
            let e0 = &cx.ty(first).elem;
            if *e0 != elem {
                return Err(n.fail(format!(
                    "mixes operands of types {e0} (input 0) and {elem} (input {i})"
                )));
            }
        }
        ids.push(id);
    }
    let elem = cx.ty(ids[0]).elem.clone();
    let shapes: Vec<Vec<usize>> = ids.iter().map(|&id| cx.ty(id).shape.clone()).collect();
    let ranks: Vec<usize> = shapes.iter().map(Vec::len).collect();
    let (labels, output) = resolve(&eq, &ranks).map_err(wrong)?;
    let size = sizes(&labels, &shapes).map_err(wrong)?;
    let out = n.output()?;
    let b = Builder {
        n,
        out,
        size,
        elem,
        diagonals: Default::default(),
    };
    let mut parts = Vec::with_capacity(count);
    for (id, ls) in ids.into_iter().zip(labels) {
        let p = b.diagonals(cx, Part { id, labels: ls })?;
        parts.push(b.unbroadcast(cx, p)?);
    }
    // What each contraction must keep: the output's labels and those of every later operand.
    let mut needed = vec![output.clone()];
    for p in parts[1..].iter().rev() {
        let mut more = needed.last().cloned().unwrap_or_default();
        more.extend(&p.labels);
        needed.push(more);
    }
    needed.reverse();
    let mut parts = parts.into_iter();
    let mut acc = parts.next().ok_or_else(|| n.fail("has no inputs"))?;
    for (next, keep) in parts.zip(&needed[1..]) {
        acc = b.contract(cx, acc, next, keep)?;
    }
    let acc = b.sum_out(cx, acc, |l| output.contains(&l))?;
    let acc = b.transpose(cx, acc, &output)?;
    cx.name_output(acc.id, out);
    cx.define(out, Val::Node(acc.id));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{parse, resolve, sizes, Equation, Label, Term};

    fn letters(s: &str) -> Vec<Label> {
        s.chars().map(Label::Letter).collect()
    }

    fn labels(eq: &str, ranks: &[usize]) -> Result<(Vec<Vec<Label>>, Vec<Label>), String> {
        resolve(&parse(eq)?, ranks)
    }

    #[test]
    fn terms_hold_letters_and_one_ellipsis_with_spaces_ignored() {
        assert_eq!(
            parse(" bhqd , bhkd -> bhqk ").unwrap(),
            Equation {
                inputs: vec![
                    Term {
                        letters: "bhqd".chars().collect(),
                        ellipsis: None
                    },
                    Term {
                        letters: "bhkd".chars().collect(),
                        ellipsis: None
                    },
                ],
                output: Some(Term {
                    letters: "bhqk".chars().collect(),
                    ellipsis: None
                }),
            }
        );
        assert_eq!(
            parse("a...b").unwrap().inputs[0],
            Term {
                letters: vec!['a', 'b'],
                ellipsis: Some(1)
            }
        );
        assert!(parse("a..b").unwrap_err().contains("`...`"));
        assert!(parse("...a...").unwrap_err().contains("more than one"));
        assert!(parse("ij->j->i")
            .unwrap_err()
            .contains("more than one `->`"));
        assert!(parse("i1").unwrap_err().contains("`1`"));
        assert!(parse("ij->i,j").unwrap_err().contains("one result"));
    }

    #[test]
    fn implicit_output_is_the_letters_written_once_in_ascii_order() {
        assert_eq!(labels("ij,jk", &[2, 2]).unwrap().1, letters("ik"));
        assert_eq!(labels("ba", &[2]).unwrap().1, letters("ab"));
        assert_eq!(labels("aB", &[2]).unwrap().1, letters("Ba"));
        assert_eq!(labels("ii", &[2]).unwrap().1, letters(""));
        assert_eq!(
            labels("...ij,...jk", &[3, 2]).unwrap().1,
            vec![Label::Broadcast(0), Label::Letter('i'), Label::Letter('k')]
        );
    }

    #[test]
    fn ellipses_align_from_the_right() {
        let (ins, out) = labels("...ij,j...->...i", &[4, 2]).unwrap();
        use Label::*;
        assert_eq!(
            ins,
            vec![
                vec![Broadcast(1), Broadcast(0), Letter('i'), Letter('j')],
                vec![Letter('j'), Broadcast(0)],
            ]
        );
        assert_eq!(out, vec![Broadcast(1), Broadcast(0), Letter('i')]);
        // An ellipsis may stand for no axis at all.
        assert_eq!(labels("...i->...i", &[1]).unwrap().1, letters("i"));
    }

    #[test]
    fn wrong_equations_say_what_is_wrong() {
        assert!(labels("ij,jk->ik", &[2])
            .unwrap_err()
            .contains("2 operand terms for 1 inputs"));
        assert!(labels("ij->i", &[3]).unwrap_err().contains("rank 3"));
        assert!(labels("ij...->i", &[1]).unwrap_err().contains("rank 1"));
        assert!(labels("ij->k", &[2]).unwrap_err().contains("`k`"));
        assert!(labels("ij->ii", &[2]).unwrap_err().contains("twice"));
        assert!(labels("...i->i", &[2]).unwrap_err().contains("`...`"));
    }

    #[test]
    fn sizes_agree_or_broadcast_from_one() {
        let ls = vec![letters("ij"), letters("jk")];
        let s = sizes(&ls, &[vec![2, 3], vec![3, 4]]).unwrap();
        assert_eq!(s[&Label::Letter('j')], 3);
        let s = sizes(&ls, &[vec![2, 1], vec![3, 4]]).unwrap();
        assert_eq!(s[&Label::Letter('j')], 3);
        let e = sizes(&ls, &[vec![2, 3], vec![5, 4]]).unwrap_err();
        assert_eq!(
            e,
            "gives letter `j` size 3 in operand 0 and size 5 in operand 1"
        );
        let e = sizes(&[letters("ii")], &[vec![2, 3]]).unwrap_err();
        assert!(e.contains("repeats letter `i` in operand 0"), "{e}");
    }
}
