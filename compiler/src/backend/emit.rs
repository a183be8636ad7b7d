//! The kernel builder: one Cranelift function per op, with the helpers every kernel uses (where
//! a buffer is, counted loops, read-only tables, byte copies) so that kernels read as the
//! arithmetic they perform.

use crate::diag::{Error, Result};
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{types, AbiParam, BlockArg, InstBuilder, MemFlagsData, Type, Value};
use cranelift_codegen::Context;
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext, Variable};
use cranelift_module::{DataDescription, DataId, FuncId, Linkage, Module};
use cranelift_object::ObjectModule;

/// Where a tensor lives while the library runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loc {
    /// At this byte offset of the caller's scratch arena.
    Arena(usize),
    /// The caller's `inputs[i]` (f32).
    Input(usize),
    /// The caller's `outputs[i]` (f32).
    Output(usize),
    /// A constant table of the object (a weight read as it is).
    Data(DataId),
}

/// Bytes every arena value has after its end (see [`Emitter::entry`]).
pub const SLACK: usize = 64;

/// The module being built and the contexts reused across functions.
pub struct Emitter {
    pub module: ObjectModule,
    ctx: Context,
    fctx: FunctionBuilderContext,
    data_count: usize,
    /// Every function's CLIF text, when asked for (`--emit clif`).
    pub clif: Option<String>,
    /// The work units of each kernel that splits its work ([`K::for_units`]); absent: one.
    units: std::collections::HashMap<FuncId, usize>,
}

/// Every kernel has this signature: `(inputs, outputs, scratch, lo, hi, temp_shift)`: the
/// three pointers of `NAME_run`, the part of the kernel's work units to compute (`lo..hi` of
/// [`Emitter::units`]; a kernel that does not split has one unit and ignores them), and the
/// bytes added to the arena offset of each of its temporaries (0, or another thread's region:
/// see `link.rs`, "Threads").
fn kernel_signature(module: &ObjectModule) -> cranelift_codegen::ir::Signature {
    let mut sig = module.make_signature();
    for _ in 0..6 {
        sig.params.push(AbiParam::new(types::I64));
    }
    sig
}

/// The signature of the entry `NAME_run_impl(inputs, outputs, scratch) -> i32`.
fn entry_signature(module: &ObjectModule) -> cranelift_codegen::ir::Signature {
    let mut sig = module.make_signature();
    for _ in 0..3 {
        sig.params.push(AbiParam::new(types::I64));
    }
    sig.returns.push(AbiParam::new(types::I32));
    sig
}

impl Emitter {
    pub fn new(module: ObjectModule) -> Emitter {
        Emitter {
            module,
            ctx: Context::new(),
            fctx: FunctionBuilderContext::new(),
            data_count: 0,
            clif: None,
            units: Default::default(),
        }
    }

    /// A read-only table in the object, aligned for vector loads.
    pub fn data(&mut self, what: &str, bytes: Vec<u8>) -> Result<DataId> {
        self.data_count += 1;
        let name = format!("qcc_data_{}_{what}", self.data_count);
        let id = self
            .module
            .declare_data(&name, Linkage::Local, false, false)
            .map_err(|e| Error::msg(format!("declaring {name}: {e}")))?;
        let mut desc = DataDescription::new();
        // Kernels may read up to one vector past a table's end (zero weights pad the rows, but
        // the last load of a row can reach beyond): keep those bytes inside the object.
        let mut bytes = bytes;
        bytes.resize(bytes.len() + 64, 0);
        desc.define(bytes.into_boxed_slice());
        desc.set_align(64);
        self.module
            .define_data(id, &desc)
            .map_err(|e| Error::msg(format!("defining {name}: {e}")))?;
        Ok(id)
    }

    /// Builds one kernel function named `name` (local to the object) with `body`.
    pub fn kernel(
        &mut self,
        name: &str,
        linkage: Linkage,
        body: impl FnOnce(&mut K) -> Result<()>,
    ) -> Result<FuncId> {
        let sig = kernel_signature(&self.module);
        let id = self
            .module
            .declare_function(name, linkage, &sig)
            .map_err(|e| Error::msg(format!("declaring {name}: {e}")))?;
        self.ctx.func.signature = sig;
        {
            let mut b = FunctionBuilder::new(&mut self.ctx.func, &mut self.fctx);
            let entry = b.create_block();
            b.append_block_params_for_function_params(entry);
            b.switch_to_block(entry);
            let params = b.block_params(entry).to_vec();
            let mut k = K {
                b,
                module: &mut self.module,
                ins: params[0],
                outs: params[1],
                scratch: params[2],
                lo: params[3],
                hi: params[4],
                temp_shift: params[5],
                units: None,
            };
            body(&mut k)?;
            if let Some(u) = k.units {
                self.units.insert(id, u);
            }
            k.b.ins().return_(&[]);
            k.b.seal_all_blocks();
            let cfg = k.module.target_config();
            k.b.finalize(cfg);
        }
        if let Some(text) = &mut self.clif {
            text.push_str(&format!("; {name}\n{}\n", self.ctx.func.display()));
        }
        self.module
            .define_function(id, &mut self.ctx)
            .map_err(|e| Error::msg(format!("compiling {name}: {e:?}")))?;
        self.module.clear_context(&mut self.ctx);
        Ok(id)
    }

    /// How many work units the kernel `f` splits into (1 for a kernel that does not split): a
    /// call with `lo..hi` computes exactly the results of those units, so calls on disjoint
    /// ranges may run at once and together compute what one call on `0..units` does.
    pub fn units(&self, f: FuncId) -> usize {
        self.units.get(&f).copied().unwrap_or(1)
    }

    /// A function of hand-assembled machine code (a micro-kernel), local to the object, called
    /// from kernels with four i64 arguments (SysV). `--emit clif` lists it by name and size.
    pub fn machine_code(&mut self, name: &str, bytes: &[u8], params: usize) -> Result<FuncId> {
        let mut sig = self.module.make_signature();
        for _ in 0..params {
            sig.params.push(AbiParam::new(types::I64));
        }
        let id = self
            .module
            .declare_function(name, Linkage::Local, &sig)
            .map_err(|e| Error::msg(format!("declaring {name}: {e}")))?;
        self.module
            .define_function_bytes(id, 64, bytes, &[])
            .map_err(|e| Error::msg(format!("defining {name}: {e}")))?;
        if let Some(text) = &mut self.clif {
            text.push_str(&format!(
                "; {name}: {} bytes of machine code (micro-kernel)\n\n",
                bytes.len()
            ));
        }
        Ok(id)
    }

    /// The exported entry: calls each kernel in order with the same three pointers, returns 0.
    /// With `mark` (a profiling build), it also calls the C function of that name with the
    /// step's index before each kernel, and with the number of kernels after the last, so the
    /// shim can time each step; without it the entry is exactly the list of calls.
    /// The entry function: calls `kernels` in order, each `(function, slack)`. `slack` is the
    /// arena offset where the step's result ends: the entry zeroes the 64 bytes there (the room
    /// [`crate::backend::arena_bytes`] leaves), because the kernels that read the value load whole
    /// vectors and may read up to 15 bytes past its end. Zero weights cancel those bytes, but
    /// scratch nobody wrote is uninitialised memory to valgrind, and a result computed from it
    /// is too (issue 15, finding 12). Four stores per step cost nothing beside any kernel.
    /// `step_of[i]` is the plan step kernel `i` belongs to: a profiling build marks each step's
    /// start once, however many kernels it takes.
    pub fn entry(
        &mut self,
        name: &str,
        kernels: &[(FuncId, Option<usize>)],
        step_of: &[usize],
        mark: Option<&str>,
    ) -> Result<FuncId> {
        let sig = entry_signature(&self.module);
        let id = self
            .module
            .declare_function(name, Linkage::Export, &sig)
            .map_err(|e| Error::msg(format!("declaring {name}: {e}")))?;
        let mark = match mark {
            Some(mark_name) => {
                let mut msig = self.module.make_signature();
                msig.params.push(AbiParam::new(types::I64));
                Some(
                    self.module
                        .declare_function(mark_name, Linkage::Import, &msig)
                        .map_err(|e| Error::msg(format!("declaring {mark_name}: {e}")))?,
                )
            }
            None => None,
        };
        self.ctx.func.signature = sig;
        {
            let mut b = FunctionBuilder::new(&mut self.ctx.func, &mut self.fctx);
            let entry = b.create_block();
            b.append_block_params_for_function_params(entry);
            b.switch_to_block(entry);
            let params = b.block_params(entry).to_vec();
            let mark = mark.map(|m| self.module.declare_func_in_func(m, b.func));
            for (i, &(kernel, slack)) in kernels.iter().enumerate() {
                let starts_step = i == 0 || step_of[i] != step_of[i - 1];
                if let (Some(m), true) = (mark, starts_step) {
                    let step = b.ins().iconst(types::I64, step_of[i] as i64);
                    b.ins().call(m, &[step]);
                }
                let f = self.module.declare_func_in_func(kernel, b.func);
                let lo = b.ins().iconst(types::I64, 0);
                let hi = b.ins().iconst(
                    types::I64,
                    self.units.get(&kernel).copied().unwrap_or(1) as i64,
                );
                let shift = b.ins().iconst(types::I64, 0);
                b.ins()
                    .call(f, &[params[0], params[1], params[2], lo, hi, shift]);
                if let Some(end) = slack {
                    zero_slack(&mut b, params[2], end);
                }
            }
            if let Some(m) = mark {
                let steps = step_of.last().map_or(0, |&s| s + 1);
                let step = b.ins().iconst(types::I64, steps as i64);
                b.ins().call(m, &[step]);
            }
            let zero = b.ins().iconst(types::I32, 0);
            b.ins().return_(&[zero]);
            b.seal_all_blocks();
            b.finalize(self.module.target_config());
        }
        if let Some(text) = &mut self.clif {
            text.push_str(&format!("; {name}\n{}\n", self.ctx.func.display()));
        }
        self.module
            .define_function(id, &mut self.ctx)
            .map_err(|e| Error::msg(format!("compiling {name}: {e:?}")))?;
        self.module.clear_context(&mut self.ctx);
        Ok(id)
    }
}

/// Zeroes the [`SLACK`] bytes at arena offset `end` (see [`Emitter::entry`]).
fn zero_slack(b: &mut FunctionBuilder, scratch: Value, end: usize) {
    let zero = b.ins().iconst(types::I8, 0);
    let v = b.ins().splat(types::I8X16, zero);
    let at = b.ins().iadd_imm_s(scratch, end as i64);
    for q in 0..(SLACK / 16) as i32 {
        b.ins().store(mem(), v, at, q * 16);
    }
}

impl Emitter {
    /// The exported `NAME_step_impl(inputs, outputs, scratch, step, lo, hi, temp_shift)`, the
    /// threaded runs' way in: calls kernel `step` of `kernels` (as [`Emitter::entry`] takes
    /// them) on units `lo..hi` with its temporaries moved by `temp_shift` bytes, and the part
    /// that ends at the last unit zeroes the step's slack. A step index out of range does
    /// nothing (the shim never passes one).
    pub fn step_entry(
        &mut self,
        name: &str,
        kernels: &[(FuncId, Option<usize>)],
    ) -> Result<FuncId> {
        let mut sig = self.module.make_signature();
        for _ in 0..7 {
            sig.params.push(AbiParam::new(types::I64));
        }
        let id = self
            .module
            .declare_function(name, Linkage::Export, &sig)
            .map_err(|e| Error::msg(format!("declaring {name}: {e}")))?;
        self.ctx.func.signature = sig;
        {
            let mut b = FunctionBuilder::new(&mut self.ctx.func, &mut self.fctx);
            let entry = b.create_block();
            b.append_block_params_for_function_params(entry);
            let done = b.create_block();
            let p = {
                b.switch_to_block(entry);
                b.block_params(entry).to_vec()
            };
            let blocks: Vec<_> = kernels.iter().map(|_| b.create_block()).collect();
            let default = b.func.dfg.block_call(done, &[]);
            let targets: Vec<_> = blocks
                .iter()
                .map(|&blk| b.func.dfg.block_call(blk, &[]))
                .collect();
            let jt =
                b.create_jump_table(cranelift_codegen::ir::JumpTableData::new(default, &targets));
            let index = b.ins().ireduce(types::I32, p[3]);
            b.ins().br_table(index, jt);
            for (&(kernel, slack), &blk) in kernels.iter().zip(&blocks) {
                b.switch_to_block(blk);
                let f = self.module.declare_func_in_func(kernel, b.func);
                b.ins().call(f, &[p[0], p[1], p[2], p[4], p[5], p[6]]);
                if let Some(end) = slack {
                    let units = self.units.get(&kernel).copied().unwrap_or(1);
                    let last = b.ins().icmp_imm_s(IntCC::Equal, p[5], units as i64);
                    let zero = b.create_block();
                    b.ins().brif(last, zero, &[], done, &[]);
                    b.switch_to_block(zero);
                    zero_slack(&mut b, p[2], end);
                }
                b.ins().jump(done, &[]);
            }
            b.switch_to_block(done);
            b.ins().return_(&[]);
            b.seal_all_blocks();
            b.finalize(self.module.target_config());
        }
        if let Some(text) = &mut self.clif {
            text.push_str(&format!("; {name}\n{}\n", self.ctx.func.display()));
        }
        self.module
            .define_function(id, &mut self.ctx)
            .map_err(|e| Error::msg(format!("compiling {name}: {e:?}")))?;
        self.module.clear_context(&mut self.ctx);
        Ok(id)
    }
}

/// Runs of at least this many bytes are copied or filled by the C library (see
/// [`K::copy_bytes`]); below it the call costs more than the inlined loop.
const LIBC_BYTES: usize = 256;

/// A kernel under construction.
pub struct K<'a> {
    pub b: FunctionBuilder<'a>,
    module: &'a mut ObjectModule,
    ins: Value,
    outs: Value,
    scratch: Value,
    lo: Value,
    hi: Value,
    temp_shift: Value,
    /// Set by [`K::for_units`].
    units: Option<usize>,
}

/// Loads and stores of the kernels: never trapping on their own (every address is in bounds by
/// construction), little-endian, no alignment assumed. Not `trusted()`: that also claims 16-byte
/// alignment, and Cranelift then folds a vector load into an SSE instruction's memory operand
/// (`pmaxub (mem)`), which faults on an unaligned address on targets without AVX.
pub fn mem() -> MemFlagsData {
    MemFlagsData::new().with_notrap()
}

impl K<'_> {
    pub fn i64(&mut self, v: i64) -> Value {
        self.b.ins().iconst(types::I64, v)
    }
    pub fn i32(&mut self, v: i32) -> Value {
        self.b.ins().iconst(types::I32, i64::from(v))
    }

    /// The address of `loc`.
    pub fn base(&mut self, loc: Loc) -> Value {
        match loc {
            Loc::Arena(off) => self.b.ins().iadd_imm_s(self.scratch, off as i64),
            Loc::Input(i) => self
                .b
                .ins()
                .load(types::I64, mem(), self.ins, (i * 8) as i32),
            Loc::Output(i) => self
                .b
                .ins()
                .load(types::I64, mem(), self.outs, (i * 8) as i32),
            Loc::Data(id) => self.table(id),
        }
    }

    /// The address of the kernel's temporary at arena offset `off` (moved by the call's
    /// `temp_shift`, so that each thread running a part of the kernel has its own).
    pub fn temp(&mut self, off: usize) -> Value {
        let at = self.b.ins().iadd(self.scratch, self.temp_shift);
        self.b.ins().iadd_imm_s(at, off as i64)
    }

    /// `for u in lo..hi { body(u) }` over the call's part of `units` work units: the kernel's
    /// outermost loop when it splits its work between threads. Each unit must write results
    /// no other unit writes and read none that another writes, so any partition of `0..units`
    /// computes the same bytes. At most one call per kernel.
    pub fn for_units(
        &mut self,
        units: usize,
        body: impl FnOnce(&mut Self, Value) -> Result<()>,
    ) -> Result<()> {
        assert!(self.units.is_none(), "one for_units per kernel");
        self.units = Some(units.max(1));
        let (lo, hi) = (self.lo, self.hi);
        self.for_between(lo, hi, 1, body)
    }

    /// The call's part of the work units, `lo..hi` (all of them outside a threaded run), for
    /// a kernel that prepares only what its part reads before [`K::for_units`].
    pub fn unit_bounds(&self) -> (Value, Value) {
        (self.lo, self.hi)
    }

    /// `for i in (lo..hi).step_by(step) { body(i) }` with run-time i64 bounds.
    pub fn for_between(
        &mut self,
        lo: Value,
        hi: Value,
        step: i64,
        body: impl FnOnce(&mut Self, Value) -> Result<()>,
    ) -> Result<()> {
        self.counted_loop(
            |_| lo,
            |k, i| k.b.ins().icmp(IntCC::SignedLessThan, i, hi),
            step,
            body,
        )
    }

    /// The loop the `for_*` helpers share: `i = start; while more(i) { body(i); i += step }`,
    /// `start` and `more` emitted where the loop needs them (the header, then the test).
    fn counted_loop(
        &mut self,
        start: impl FnOnce(&mut Self) -> Value,
        more: impl FnOnce(&mut Self, Value) -> Value,
        step: i64,
        body: impl FnOnce(&mut Self, Value) -> Result<()>,
    ) -> Result<()> {
        let header = self.b.create_block();
        let i = self.b.append_block_param(header, types::I64);
        let inner = self.b.create_block();
        let exit = self.b.create_block();
        let start = start(self);
        self.b.ins().jump(header, &[BlockArg::Value(start)]);
        self.b.switch_to_block(header);
        let more = more(self, i);
        self.b.ins().brif(more, inner, &[], exit, &[]);
        self.b.switch_to_block(inner);
        body(self, i)?;
        let next = self.b.ins().iadd_imm_s(i, step);
        self.b.ins().jump(header, &[BlockArg::Value(next)]);
        self.b.switch_to_block(exit);
        Ok(())
    }

    /// `if cond { then } else { other }`.
    pub fn if_else(
        &mut self,
        cond: Value,
        then: impl FnOnce(&mut Self) -> Result<()>,
        other: impl FnOnce(&mut Self) -> Result<()>,
    ) -> Result<()> {
        let (t, e, done) = (
            self.b.create_block(),
            self.b.create_block(),
            self.b.create_block(),
        );
        self.b.ins().brif(cond, t, &[], e, &[]);
        self.b.switch_to_block(t);
        then(self)?;
        self.b.ins().jump(done, &[]);
        self.b.switch_to_block(e);
        other(self)?;
        self.b.ins().jump(done, &[]);
        self.b.switch_to_block(done);
        Ok(())
    }

    /// The address of a table of the object.
    pub fn table(&mut self, id: DataId) -> Value {
        let gv = self.module.declare_data_in_func(id, self.b.func);
        self.b.ins().symbol_value(types::I64, gv)
    }

    /// `base + index·scale + offset`.
    pub fn at(&mut self, base: Value, index: Value, scale: i64, offset: i64) -> Value {
        let scaled = if scale == 1 {
            index
        } else {
            self.b.ins().imul_imm_s(index, scale)
        };
        let a = self.b.ins().iadd(base, scaled);
        if offset == 0 {
            a
        } else {
            self.b.ins().iadd_imm_s(a, offset)
        }
    }

    /// `for i in (lo..hi).step_by(step) { body(i) }` with `i` an i64; nothing when empty.
    pub fn for_range(
        &mut self,
        lo: i64,
        hi: i64,
        step: i64,
        body: impl FnOnce(&mut Self, Value) -> Result<()>,
    ) -> Result<()> {
        if hi <= lo {
            return Ok(());
        }
        if hi - lo <= step {
            // One trip: no loop.
            let i = self.i64(lo);
            return body(self, i);
        }
        self.counted_loop(
            |k| k.i64(lo),
            |k, i| k.b.ins().icmp_imm_s(IntCC::SignedLessThan, i, hi),
            step,
            body,
        )
    }

    /// Like [`Self::for_range`] with a runtime trip count `n` (i64): `for t in 0..n`.
    pub fn for_count(
        &mut self,
        n: Value,
        body: impl FnOnce(&mut Self, Value) -> Result<()>,
    ) -> Result<()> {
        self.counted_loop(
            |k| k.i64(0),
            |k, i| k.b.ins().icmp(IntCC::SignedLessThan, i, n),
            1,
            body,
        )
    }

    /// `if cond { body }` (`cond` an i8 truth value from `icmp`).
    pub fn if_then(
        &mut self,
        cond: Value,
        body: impl FnOnce(&mut Self) -> Result<()>,
    ) -> Result<()> {
        let then = self.b.create_block();
        let done = self.b.create_block();
        self.b.ins().brif(cond, then, &[], done, &[]);
        self.b.switch_to_block(then);
        body(self)?;
        self.b.ins().jump(done, &[]);
        self.b.switch_to_block(done);
        Ok(())
    }

    /// Calls a function of this object (a micro-kernel) with `args`.
    pub fn call(&mut self, f: FuncId, args: &[Value]) {
        let r = self.module.declare_func_in_func(f, self.b.func);
        self.b.ins().call(r, args);
    }

    /// `expf(x)` from the C library, the function Rust's `f32::exp` calls, so that a float
    /// softmax or sigmoid matches the interpreter bit for bit.
    pub fn expf(&mut self, x: Value) -> Result<Value> {
        self.libm(x, "expf", &[])
    }

    /// `name(x, more…)`, a C library function of f32s returning an f32 (`expf`, `tanhf`,
    /// `powf`, …): the one the interpreter's Rust `f32` method calls.
    pub fn libm(&mut self, x: Value, name: &str, more: &[Value]) -> Result<Value> {
        self.libm_of(types::F32, x, name, more)
    }

    /// [`K::libm`] on values of float type `ty` (`fmod` on f64s, as Rust's `f64 %` calls it).
    pub fn libm_of(&mut self, ty: Type, x: Value, name: &str, more: &[Value]) -> Result<Value> {
        let mut args = vec![x];
        args.extend_from_slice(more);
        self.c_call(name, &args, ty)
    }

    /// `name(args…)`, a C library function, its parameters typed as `args` are, returning a
    /// `ret`.
    fn c_call(&mut self, name: &str, args: &[Value], ret: Type) -> Result<Value> {
        let mut sig = self.module.make_signature();
        for &a in args {
            sig.params
                .push(AbiParam::new(self.b.func.dfg.value_type(a)));
        }
        sig.returns.push(AbiParam::new(ret));
        let id = self
            .module
            .declare_function(name, Linkage::Import, &sig)
            .map_err(|e| Error::msg(format!("declaring {name}: {e}")))?;
        let f = self.module.declare_func_in_func(id, self.b.func);
        let call = self.b.ins().call(f, args);
        Ok(self.b.inst_results(call)[0])
    }

    /// A fresh mutable variable of type `ty` holding `init` (accumulators across loops).
    pub fn var(&mut self, ty: Type, init: Value) -> Variable {
        let v = self.b.declare_var(ty);
        self.b.def_var(v, init);
        v
    }

    /// Copies `n` bytes (a compile-time count) from `src` to `dst`. A long run goes to the C
    /// library's `memcpy`, which moves whole cache lines with the widest vectors the host has:
    /// with the loop below, staging padded inputs took a quarter of MobileNetV2's depthwise
    /// time (the library 4.5% slower, AMD EPYC). A short one is inlined: 16-byte vectors, then the tail
    /// in 8-, 4-, 2- and 1-byte moves.
    pub fn copy_bytes(&mut self, dst: Value, src: Value, n: usize) -> Result<()> {
        if n >= LIBC_BYTES {
            let len = self.i64(n as i64);
            return self
                .c_call("memcpy", &[dst, src, len], types::I64)
                .map(|_| ());
        }
        let vecs = (n / 16) as i64;
        self.for_range(0, vecs, 1, |k, i| {
            let s = k.at(src, i, 16, 0);
            let v = k.b.ins().load(types::I8X16, mem(), s, 0);
            let d = k.at(dst, i, 16, 0);
            k.b.ins().store(mem(), v, d, 0);
            Ok(())
        })?;
        // The tail in the widest loads that fit (8, 4, 2, 1 bytes).
        let mut t = n / 16 * 16;
        for (size, ty) in [
            (8, types::I64),
            (4, types::I32),
            (2, types::I16),
            (1, types::I8),
        ] {
            while n - t >= size {
                let v = self.b.ins().load(ty, mem(), src, t as i32);
                self.b.ins().store(mem(), v, dst, t as i32);
                t += size;
            }
        }
        Ok(())
    }

    /// Sets `n` bytes at `dst` to `byte`.
    pub fn fill_bytes(&mut self, dst: Value, byte: u8, n: usize) -> Result<()> {
        if n >= LIBC_BYTES {
            let (v, len) = (self.i32(i32::from(byte)), self.i64(n as i64));
            return self
                .c_call("memset", &[dst, v, len], types::I64)
                .map(|_| ());
        }
        let splat = self.b.ins().iconst(types::I8, i64::from(byte));
        let v = self.b.ins().splat(types::I8X16, splat);
        let vecs = (n / 16) as i64;
        self.for_range(0, vecs, 1, |k, i| {
            let d = k.at(dst, i, 16, 0);
            k.b.ins().store(mem(), v, d, 0);
            Ok(())
        })?;
        let b32 = self.i32(i32::from(byte));
        for t in (n / 16 * 16)..n {
            self.b.ins().istore8(mem(), b32, dst, t as i32);
        }
        Ok(())
    }

    /// Clamps an i32 to `[lo, hi]`.
    pub fn clamp(&mut self, v: Value, lo: i32, hi: i32) -> Value {
        let lo = self.i32(lo);
        let hi = self.i32(hi);
        let v = self.b.ins().smax(v, lo);
        self.b.ins().smin(v, hi)
    }
}
