//! The inner loop of every convolution and gemm: u8 activations times i8 weights summed into
//! i32, a tile of pixels × output channels at a time, on one of three exact instruction routes.

use crate::backend::emit::{mem, K};
use crate::backend::target::Target;
use crate::diag::Result;
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{types, BlockArg, InstBuilder, Value};
use cranelift_frontend::Variable;

/// How 16 u8·i8 products are summed into four i32 lanes; all three are exact.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// The widening dot-accumulate tree Cranelift folds into one `vpdpbusd` (VNNI).
    Vnni,
    /// `pmaddubsw` (u8·i8 pairs summed in i16, saturating) then `pmaddwd` by ones: exact only
    /// while every |w| ≤ 64, since 2·255·64 < 2¹⁵ (7-bit weights).
    Pmaddubsw,
    /// Both operands widened to i16, then `pmaddwd`: exact for any i8 weight.
    Exact,
}

impl Route {
    /// The fastest exact route for weights whose largest magnitude is `max_abs`.
    pub fn choose(target: &Target, max_abs: i32) -> Route {
        if target.has_vnni() {
            Route::Vnni
        } else if max_abs <= 64 {
            Route::Pmaddubsw
        } else {
            Route::Exact
        }
    }
}

/// `acc + Σ` of the 16 products of `a` (u8 lanes) and `w` (i8 lanes), four per i32 lane.
pub fn mac(k: &mut K, route: Route, acc: Value, a: Value, w: Value) -> Value {
    match route {
        Route::Vnni => {
            // The exact shape of Cranelift's `vpdpbusd` rule (x64 lower.isle): weights signed,
            // activations unsigned, products widened pairwise twice, then the add.
            let wl = k.b.ins().swiden_low(w);
            let al = k.b.ins().uwiden_low(a);
            let lo = k.b.ins().imul(wl, al);
            let wh = k.b.ins().swiden_high(w);
            let ah = k.b.ins().uwiden_high(a);
            let hi = k.b.ins().imul(wh, ah);
            let lo_l = k.b.ins().swiden_low(lo);
            let lo_h = k.b.ins().swiden_high(lo);
            let lo_s = k.b.ins().iadd_pairwise(lo_l, lo_h);
            let hi_l = k.b.ins().swiden_low(hi);
            let hi_h = k.b.ins().swiden_high(hi);
            let hi_s = k.b.ins().iadd_pairwise(hi_l, hi_h);
            let p = k.b.ins().iadd_pairwise(lo_s, hi_s);
            k.b.ins().iadd(p, acc)
        }
        Route::Pmaddubsw => {
            let s = k.b.ins().x86_pmaddubsw(w, a);
            let l = k.b.ins().swiden_low(s);
            let h = k.b.ins().swiden_high(s);
            let p = k.b.ins().iadd_pairwise(l, h);
            k.b.ins().iadd(acc, p)
        }
        Route::Exact => {
            let al = k.b.ins().uwiden_low(a);
            let ah = k.b.ins().uwiden_high(a);
            let wl = k.b.ins().swiden_low(w);
            let wh = k.b.ins().swiden_high(w);
            let p1 = pmaddwd(k, al, wl);
            let p2 = pmaddwd(k, ah, wh);
            let acc = k.b.ins().iadd(acc, p1);
            k.b.ins().iadd(acc, p2)
        }
    }
}

/// The i16x8 · i16x8 → i32x4 pairwise product Cranelift lowers to one `pmaddwd`.
fn pmaddwd(k: &mut K, x: Value, y: Value) -> Value {
    let xl = k.b.ins().swiden_low(x);
    let yl = k.b.ins().swiden_low(y);
    let l = k.b.ins().imul(xl, yl);
    let xh = k.b.ins().swiden_high(x);
    let yh = k.b.ins().swiden_high(y);
    let h = k.b.ins().imul(xh, yh);
    k.b.ins().iadd_pairwise(l, h)
}

/// The activation runs one output pixel reads, each against a stretch of a packed weight row.
#[derive(Clone, Debug)]
pub struct Dot {
    /// `(byte offset from the pixel's base, length)` of each contiguous run of activations.
    pub segs: Vec<(i64, usize)>,
    pub route: Route,
}

impl Dot {
    /// Bytes of one packed weight row: every run padded with zero weights to whole vectors.
    pub fn row_bytes(&self) -> usize {
        self.segs
            .iter()
            .map(|&(_, len)| len.div_ceil(16) * 16)
            .sum()
    }
}

/// The dot products of `acts.len()` (≤ 4) pixels with `rows.len()` weight rows: per row an i32x4
/// whose lane p is pixel p's sum.
/// Reads up to 15 bytes past each run (zero weights cancel them; buffers keep that slack).
pub fn tile(k: &mut K, dot: &Dot, acts: &[Value], rows: &[Value]) -> Result<Vec<Value>> {
    let zero = k.b.ins().iconst(types::I32, 0);
    let zv = k.b.ins().splat(types::I32X4, zero);
    let accs: Vec<Vec<Variable>> = acts
        .iter()
        .map(|_| rows.iter().map(|_| k.var(types::I32X4, zv)).collect())
        .collect();
    let mut woff = 0i64;
    for &(aoff, len) in &dot.segs {
        let chunks = len.div_ceil(16) as i64;
        // One chunk: 16 codes of every pixel against 16 weights of every row, from pointers
        // `a[p]` and `w[o]` (plus a constant byte offset `off`).
        let chunk = |k: &mut K, a: &[Value], w: &[Value], off: i64| {
            let a: Vec<Value> = a
                .iter()
                .map(|&p| k.b.ins().load(types::I8X16, mem(), p, off as i32))
                .collect();
            let w: Vec<Value> = w
                .iter()
                .map(|&r| k.b.ins().load(types::I8X16, mem(), r, off as i32))
                .collect();
            for (pi, &av) in a.iter().enumerate() {
                for (oi, &wv) in w.iter().enumerate() {
                    let cur = k.b.use_var(accs[pi][oi]);
                    let next = mac(k, dot.route, cur, av, wv);
                    k.b.def_var(accs[pi][oi], next);
                }
            }
        };
        let a0: Vec<Value> = acts
            .iter()
            .map(|&p| k.b.ins().iadd_imm_s(p, aoff))
            .collect();
        let w0: Vec<Value> = rows
            .iter()
            .map(|&r| k.b.ins().iadd_imm_s(r, woff))
            .collect();
        if chunks <= 2 {
            for c in 0..chunks {
                chunk(k, &a0, &w0, c * 16);
            }
        } else {
            // Every pointer steps by 16 as a loop-carried value: recomputing `base + 16·i` per
            // load cost more scalar instructions than the chunk has vector ones.
            let header = k.b.create_block();
            let i = k.b.append_block_param(header, types::I64);
            let ptrs: Vec<Value> = (0..a0.len() + w0.len())
                .map(|_| k.b.append_block_param(header, types::I64))
                .collect();
            let body = k.b.create_block();
            let exit = k.b.create_block();
            let start = k.i64(0);
            let args: Vec<BlockArg> = std::iter::once(start)
                .chain(a0.iter().chain(&w0).copied())
                .map(BlockArg::Value)
                .collect();
            k.b.ins().jump(header, &args);
            k.b.switch_to_block(header);
            let more = k.b.ins().icmp_imm_s(IntCC::SignedLessThan, i, chunks);
            k.b.ins().brif(more, body, &[], exit, &[]);
            k.b.switch_to_block(body);
            let (a, w) = ptrs.split_at(a0.len());
            chunk(k, a, w, 0);
            let next = k.b.ins().iadd_imm_s(i, 1);
            let mut args = vec![BlockArg::Value(next)];
            for &p in &ptrs {
                args.push(BlockArg::Value(k.b.ins().iadd_imm_s(p, 16)));
            }
            k.b.ins().jump(header, &args);
            k.b.switch_to_block(exit);
        }
        woff += chunks * 16;
    }
    // Per row, the pixels' four-lane partial sums folded into one vector: lane p is pixel p's
    // dot product (`phaddd` twice); lanes past the tile's pixels are zero.
    let zero = k.b.ins().iconst(types::I32, 0);
    let zv = k.b.ins().splat(types::I32X4, zero);
    let mut out = Vec::new();
    for oi in 0..rows.len() {
        let v: Vec<Value> = (0..4)
            .map(|p| match accs.get(p) {
                Some(row) => k.b.use_var(row[oi]),
                None => zv,
            })
            .collect();
        let s01 = k.b.ins().iadd_pairwise(v[0], v[1]);
        let s23 = k.b.ins().iadd_pairwise(v[2], v[3]);
        out.push(k.b.ins().iadd_pairwise(s01, s23));
    }
    Ok(out)
}
