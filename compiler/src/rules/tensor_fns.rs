//! The rule language's builtins over whole constant tensors: reshape, transpose, matmul, concat,
//! slice, squeeze and unsqueeze. Each checks its shape rule (docs/dsl.md) and says which shapes
//! broke it; a guard that breaks one does not hold, a replacement that does is refused.

use crate::rules::value::{VResult, Value};
use ndarray::{ArrayD, Axis, Ix2, IxDyn, Slice};

/// Whether `f` is one of these builtins.
pub fn is(f: &str) -> bool {
    matches!(
        f,
        "reshape" | "transpose" | "matmul" | "concat" | "slice" | "squeeze" | "unsqueeze"
    )
}

fn shape_of(a: &ArrayD<f64>) -> String {
    format!("{:?}", a.shape())
}

/// A list argument of non-negative integers (a shape, a permutation, axes).
fn indices(v: &Value, what: &str) -> VResult<Vec<usize>> {
    let (a, _) = v.num()?;
    if a.ndim() > 1 {
        return Err(format!("{what} must be a list, got shape {}", shape_of(a)));
    }
    a.iter()
        .map(|&x| {
            if x >= 0.0 && x.fract() == 0.0 {
                Ok(x as usize)
            } else {
                Err(format!("{what} must hold non-negative integers, got {x}"))
            }
        })
        .collect()
}

fn index(v: &Value, what: &str) -> VResult<usize> {
    let x = v.scalar()?;
    if x >= 0.0 && x.fract() == 0.0 {
        Ok(x as usize)
    } else {
        Err(format!("{what} must be a non-negative integer, got {x}"))
    }
}

fn axis(a: &ArrayD<f64>, v: &Value) -> VResult<usize> {
    let ax = index(v, "an axis")?;
    if ax < a.ndim() {
        Ok(ax)
    } else {
        Err(format!(
            "axis {ax} is out of range for shape {}",
            shape_of(a)
        ))
    }
}

fn reshaped(a: &ArrayD<f64>, shape: &[usize]) -> VResult<ArrayD<f64>> {
    let n: usize = shape.iter().product();
    if n != a.len() {
        return Err(format!(
            "reshape of {} ({} elements) to {shape:?} ({n} elements)",
            shape_of(a),
            a.len()
        ));
    }
    Ok(ArrayD::from_shape_vec(IxDyn(shape), a.iter().copied().collect()).expect("same count"))
}

fn matmul(a: &ArrayD<f64>, b: &ArrayD<f64>) -> VResult<ArrayD<f64>> {
    let (ra, rb) = (a.ndim(), b.ndim());
    if !(1..=2).contains(&ra) || !(1..=2).contains(&rb) {
        return Err(format!(
            "matmul takes vectors and matrices, got {} and {}",
            shape_of(a),
            shape_of(b)
        ));
    }
    // A vector on the left is a row, on the right a column; that axis is dropped again.
    let a2 = if ra == 1 {
        reshaped(a, &[1, a.len()])?
    } else {
        a.clone()
    };
    let b2 = if rb == 1 {
        reshaped(b, &[b.len(), 1])?
    } else {
        b.clone()
    };
    if a2.shape()[1] != b2.shape()[0] {
        return Err(format!(
            "matmul of {} and {}: the inner dimensions {} and {} differ",
            shape_of(a),
            shape_of(b),
            a2.shape()[1],
            b2.shape()[0]
        ));
    }
    let x = a2.into_dimensionality::<Ix2>().expect("rank 2");
    let y = b2.into_dimensionality::<Ix2>().expect("rank 2");
    let p = x.dot(&y).into_dyn();
    let mut shape = vec![];
    if ra == 2 {
        shape.push(p.shape()[0]);
    }
    if rb == 2 {
        shape.push(p.shape()[1]);
    }
    reshaped(&p, &shape)
}

/// Evaluates builtin `f` (one `is` accepts) on evaluated arguments.
pub fn call(f: &str, args: &[Value]) -> VResult<Value> {
    let arg = |i: usize| -> VResult<&Value> {
        args.get(i)
            .ok_or_else(|| format!("{f} is missing argument {}", i + 1))
    };
    // Integers stay integers: the data arguments decide, not a shape or an axis.
    let data: Vec<usize> = match f {
        "matmul" => vec![0, 1],
        "concat" => (1..args.len()).collect(),
        _ => vec![0],
    };
    let int = data.iter().all(|&i| {
        args.get(i)
            .and_then(|v| v.num().ok())
            .is_some_and(|(_, i)| i)
    });
    let num = |i: usize| -> VResult<&ArrayD<f64>> { Ok(arg(i)?.num()?.0) };
    let out = match f {
        "reshape" => reshaped(num(0)?, &indices(arg(1)?, "a shape")?)?,
        "transpose" => {
            let a = num(0)?;
            let perm = indices(arg(1)?, "a permutation")?;
            let mut seen = perm.clone();
            seen.sort_unstable();
            if seen != (0..a.ndim()).collect::<Vec<_>>() {
                return Err(format!(
                    "transpose of {} by {perm:?}: not a permutation of its {} axes",
                    shape_of(a),
                    a.ndim()
                ));
            }
            a.clone()
                .permuted_axes(IxDyn(&perm))
                .as_standard_layout()
                .to_owned()
        }
        "matmul" => matmul(num(0)?, num(1)?)?,
        "concat" => {
            let ax = index(arg(0)?, "an axis")?;
            let parts: Vec<&ArrayD<f64>> = (1..args.len()).map(num).collect::<VResult<_>>()?;
            let first = parts.first().ok_or("concat needs something to join")?;
            for p in &parts {
                let fits = p.ndim() == first.ndim()
                    && ax < p.ndim()
                    && (0..p.ndim()).all(|d| d == ax || p.shape()[d] == first.shape()[d]);
                if !fits {
                    return Err(format!(
                        "concat along axis {ax} of {} and {}: the other dimensions must agree",
                        shape_of(first),
                        shape_of(p)
                    ));
                }
            }
            let views: Vec<_> = parts.iter().map(|p| p.view()).collect();
            ndarray::concatenate(Axis(ax), &views).map_err(|e| e.to_string())?
        }
        "slice" => {
            let a = num(0)?;
            let ax = axis(a, arg(1)?)?;
            let (start, end) = (index(arg(2)?, "a start")?, index(arg(3)?, "an end")?);
            if start > end || end > a.shape()[ax] {
                return Err(format!(
                    "slice {start}..{end} of axis {ax} of {}: needs start ≤ end ≤ {}",
                    shape_of(a),
                    a.shape()[ax]
                ));
            }
            a.slice_axis(Axis(ax), Slice::from(start..end)).to_owned()
        }
        "squeeze" => {
            let a = num(0)?;
            let axes = indices(arg(1)?, "axes")?;
            for &x in &axes {
                if a.shape().get(x) != Some(&1) {
                    return Err(format!(
                        "squeeze of axis {x} of {}: not of size 1",
                        shape_of(a)
                    ));
                }
            }
            let shape: Vec<usize> = (0..a.ndim())
                .filter(|d| !axes.contains(d))
                .map(|d| a.shape()[d])
                .collect();
            reshaped(a, &shape)?
        }
        "unsqueeze" => {
            let a = num(0)?;
            let axes = indices(arg(1)?, "axes")?;
            let rank = a.ndim() + axes.len();
            let mut dims = a.shape().iter();
            let mut shape = vec![];
            for d in 0..rank {
                if axes.contains(&d) {
                    shape.push(1);
                } else {
                    shape.push(*dims.next().ok_or_else(|| {
                        format!("unsqueeze of {} at {axes:?}: an axis repeats", shape_of(a))
                    })?);
                }
            }
            if axes.iter().any(|&x| x >= rank) {
                return Err(format!(
                    "unsqueeze of {} at {axes:?}: axes must be below the new rank {rank}",
                    shape_of(a)
                ));
            }
            reshaped(a, &shape)?
        }
        other => return Err(format!("unknown builtin `{other}`")),
    };
    Ok(Value::Num { a: out, int })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(shape: &[usize], v: &[f64]) -> Value {
        Value::Num {
            a: ArrayD::from_shape_vec(IxDyn(shape), v.to_vec()).expect("matching length"),
            int: false,
        }
    }
    fn ints(v: &[i64]) -> Value {
        Value::ints(v)
    }
    fn got(v: VResult<Value>) -> (Vec<usize>, Vec<f64>) {
        let v = v.expect("evaluates");
        let (a, _) = v.num().expect("numbers");
        (a.shape().to_vec(), a.iter().copied().collect())
    }

    #[test]
    fn each_builtin_against_its_formula() {
        let m = t(&[2, 3], &[1., 2., 3., 4., 5., 6.]);
        assert_eq!(
            got(call("reshape", &[m.clone(), ints(&[3, 2])])),
            (vec![3, 2], vec![1., 2., 3., 4., 5., 6.])
        );
        assert_eq!(
            got(call("transpose", &[m.clone(), ints(&[1, 0])])),
            (vec![3, 2], vec![1., 4., 2., 5., 3., 6.])
        );
        // [2, 3]·[3] = [1+4+9, 4+10+18]; [2]·[2, 3] = the rows summed with weights 1 and 2.
        let v3 = t(&[3], &[1., 2., 3.]);
        assert_eq!(
            got(call("matmul", &[m.clone(), v3])),
            (vec![2], vec![14., 32.])
        );
        let v2 = t(&[2], &[1., 2.]);
        assert_eq!(
            got(call("matmul", &[v2, m.clone()])),
            (vec![3], vec![9., 12., 15.])
        );
        let mt = call("transpose", &[m.clone(), ints(&[1, 0])]).expect("transposes");
        assert_eq!(
            got(call("matmul", &[m.clone(), mt])),
            (vec![2, 2], vec![14., 32., 32., 77.])
        );
        assert_eq!(
            got(call("concat", &[Value::int(0), m.clone(), m.clone()])).0,
            vec![4, 3]
        );
        assert_eq!(
            got(call(
                "slice",
                &[m.clone(), Value::int(1), Value::int(1), Value::int(3)]
            )),
            (vec![2, 2], vec![2., 3., 5., 6.])
        );
        let u = call("unsqueeze", &[m.clone(), ints(&[0, 3])]).expect("unsqueezes");
        assert_eq!(got(Ok(u.clone())).0, vec![1, 2, 3, 1]);
        assert_eq!(got(call("squeeze", &[u, ints(&[0, 3])])), got(Ok(m)));
    }

    #[test]
    fn a_broken_shape_rule_names_the_shapes() {
        let m = t(&[2, 3], &[1., 2., 3., 4., 5., 6.]);
        let err = |f: &str, args: &[Value]| call(f, args).expect_err("refused");
        assert!(err("reshape", &[m.clone(), ints(&[4, 2])]).contains("[2, 3]"));
        assert!(err("transpose", &[m.clone(), ints(&[0, 0])]).contains("not a permutation"));
        assert!(err("matmul", &[m.clone(), m.clone()]).contains("inner dimensions 3 and 2"));
        let other = t(&[3, 2], &[0.; 6]);
        assert!(err("concat", &[Value::int(1), m.clone(), other]).contains("[3, 2]"));
        assert!(err(
            "slice",
            &[m.clone(), Value::int(0), Value::int(1), Value::int(3)]
        )
        .contains("≤ 2"));
        assert!(err("squeeze", &[m, ints(&[0])]).contains("not of size 1"));
    }
}
