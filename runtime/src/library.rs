//! Loading a `model.so` that qcc wrote and running it safely: the prefix found in the library's
//! dynamic symbols, the description read from `NAME_model_json`, the CPU features it was built
//! for checked against this host before anything runs, shapes checked on every call.
//!
//! The C ABI (see the `model.h` qcc writes beside each library):
//! `size_t NAME_scratch_size(void)`, `int NAME_run(const float *const *inputs,
//! float *const *outputs, void *scratch)` (`const void *const *` and `void *const *` when a port
//! holds integers or bools), `const char *NAME_model_json(void)`, and for runs on
//! several threads `size_t NAME_scratch_size_threads(size_t threads)`,
//! `int NAME_run_threads(inputs, outputs, scratch, size_t threads)` and
//! `int NAME_run_parallel(inputs, outputs, scratch, size_t threads, parallel_for, pool)`.

use crate::scratch::{Scratch, SCRATCH_ALIGN};
use crate::tensor::{DType, Tensor};
use ndarray::{ArrayD, ArrayViewD, CowArray, IxDyn};
use std::ffi::{c_char, c_int, c_void, CStr};
use std::fmt;
use std::path::{Path, PathBuf};

/// The version of the JSON description and of the calling convention; a library recording
/// another one is refused rather than misread.
pub const ABI_VERSION: u64 = 2;

/// `NAME_run`'s return codes (the generated header defines the same numbers).
pub const RUN_OK: i32 = 0;
/// The CPU lacks a feature the library was built for; nothing was executed.
pub const RUN_ERR_CPU: i32 = 1;
/// The scratch pointer is not 64-byte aligned.
pub const RUN_ERR_ALIGN: i32 = 2;
/// A null pointer among the inputs, the outputs or the scratch.
pub const RUN_ERR_NULL: i32 = 3;

/// What a return code of `NAME_run` means, as the header says it.
pub fn run_code_meaning(code: i32) -> &'static str {
    match code {
        RUN_OK => "success",
        RUN_ERR_CPU => "the CPU lacks a feature the library was built for",
        RUN_ERR_ALIGN => "the scratch buffer is not 64-byte aligned",
        RUN_ERR_NULL => "a null pointer among the inputs, outputs or scratch",
        _ => "an unknown error code",
    }
}

/// An input or output of a compiled model: row-major in the IR's shape (NCHW as in ONNX), of
/// element type `dtype` (one of [`PORT_TYPES`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortInfo {
    pub name: String,
    pub shape: Vec<usize>,
    pub dtype: DType,
}

/// The element types a library's ports may have: f32 for float values and dequantized codes,
/// and the integer and bool types token ids, bytes, masks and indices come in.
pub const PORT_TYPES: [DType; 6] = [
    DType::F32,
    DType::I8,
    DType::U8,
    DType::I32,
    DType::I64,
    DType::Bool,
];

impl PortInfo {
    pub fn elements(&self) -> usize {
        self.shape.iter().product()
    }
}

/// The library's description of itself, parsed from `NAME_model_json`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelInfo {
    pub prefix: String,
    pub model_name: String,
    pub inputs: Vec<PortInfo>,
    pub outputs: Vec<PortInfo>,
    pub scratch_size: usize,
    /// GCC `__builtin_cpu_supports` names (see [`crate::cpu`]).
    pub features: Vec<String>,
    pub target: String,
    pub weight_bits: u8,
    pub qcc_version: String,
}

/// Everything that can go wrong loading or running a library, as a sentence naming the culprit.
#[derive(Debug, thiserror::Error)]
pub enum LibraryError {
    #[error("cannot load {path}: {reason}")]
    Open { path: PathBuf, reason: String },
    #[error("{path} is not a qcc model library: {reason}")]
    NotAModel { path: PathBuf, reason: String },
    #[error(
        "{path} was built for CPU features this machine lacks: {}; rebuild the model here (the default target is this machine) or with a lower --target",
        missing.join(", ")
    )]
    MissingFeatures { path: PathBuf, missing: Vec<String> },
    #[error("model @{model} takes {expected} input(s) ({names}), {given} given")]
    InputCount {
        model: String,
        expected: usize,
        given: usize,
        names: String,
    },
    #[error("input %{name} of model @{model} is {expected}, but a tensor of {dtype} was given")]
    InputType {
        model: String,
        name: String,
        expected: String,
        dtype: String,
    },
    #[error("{kind} %{name} of model @{model} is {dtype}; this call passes f32 arrays only: run it with Library::run, on tensors of each port's type")]
    NotF32 {
        model: String,
        kind: &'static str,
        name: String,
        dtype: DType,
    },
    #[error("input %{name} of model @{model} expects shape {expected}, but the tensor given has shape {given}")]
    Shape {
        model: String,
        name: String,
        expected: Shape,
        given: Shape,
    },
    #[error("the scratch buffer holds {given} bytes, model @{model} needs {needed}")]
    ScratchSize {
        model: String,
        given: usize,
        needed: usize,
    },
    #[error("{prefix}_run returned {code}: {}", run_code_meaning(*code))]
    Run { prefix: String, code: i32 },
}

/// A shape printed as the IR prints it (`1x3x224x224`; `scalar` for rank 0).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shape(pub Vec<usize>);

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("scalar");
        }
        let dims: Vec<String> = self.0.iter().map(|d| d.to_string()).collect();
        f.write_str(&dims.join("x"))
    }
}

/// Every entry's inputs and outputs: one pointer per port, each to its port's element type.
type InPtrs = *const *const c_void;
type OutPtrs = *const *mut c_void;
type RunFn = unsafe extern "C" fn(InPtrs, OutPtrs, *mut c_void) -> c_int;
type SizeFn = unsafe extern "C" fn() -> usize;
type JsonFn = unsafe extern "C" fn() -> *const c_char;
type SizeThreadsFn = unsafe extern "C" fn(usize) -> usize;
type RunThreadsFn = unsafe extern "C" fn(InPtrs, OutPtrs, *mut c_void, usize) -> c_int;
/// `task(ctx, i)`, as the library hands it to a pool.
type TaskFn = unsafe extern "C" fn(*mut c_void, usize);
/// `parallel_for(pool, task, ctx, count)`.
type ParallelForFn = unsafe extern "C" fn(*mut c_void, TaskFn, *mut c_void, usize);
type RunParallelFn =
    unsafe extern "C" fn(InPtrs, OutPtrs, *mut c_void, usize, ParallelForFn, *mut c_void) -> c_int;

/// A pool of threads the caller owns, for [`Library::run_views_parallel`]: `parallel_for`
/// calls `task(i)` once for every `i` in `0..count`, on any of its threads, and returns when
/// all calls have returned.
pub trait ParallelFor: Sync {
    fn parallel_for(&self, count: usize, task: &(dyn Fn(usize) + Sync));
}

/// The library's `task` and its context, made callable from the pool's threads.
struct Task {
    f: TaskFn,
    ctx: *mut c_void,
}
// SAFETY: the library's task may be called from any thread for distinct indices (the ABI's
// promise); the context stays alive until parallel_for returns.
unsafe impl Sync for Task {}

/// The `parallel_for` the library calls: `pool` points to a `&dyn ParallelFor`.
unsafe extern "C" fn parallel_for_trampoline(
    pool: *mut c_void,
    f: TaskFn,
    ctx: *mut c_void,
    count: usize,
) {
    // SAFETY: run_views_parallel passes a pointer to its `&dyn ParallelFor`, alive for the call.
    let pool = unsafe { &*(pool as *const &dyn ParallelFor) };
    let task = Task { f, ctx };
    pool.parallel_for(count, &|i| {
        let t = &task;
        // SAFETY: the library's own task, on an index below the count it asked for.
        unsafe { (t.f)(t.ctx, i) }
    });
}

/// A loaded `model.so`. Immutable once loaded: share it between threads, each with its own
/// scratch ([`Library::run`] allocates one per call; [`Library::run_with_scratch`] reuses yours).
pub struct Library {
    info: ModelInfo,
    path: PathBuf,
    run: RunFn,
    size_threads: SizeThreadsFn,
    run_threads: RunThreadsFn,
    run_parallel: RunParallelFn,
    // Keeps the code behind `run` mapped; dropped last.
    _lib: libloading::Library,
}

impl fmt::Debug for Library {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Library")
            .field("path", &self.path)
            .field("info", &self.info)
            .finish()
    }
}

impl Library {
    /// Loads a library, finding its prefix among its exported symbols (the one `NAME` for which
    /// `NAME_model_json`, `NAME_run` and `NAME_scratch_size` are all defined).
    pub fn load(path: impl AsRef<Path>) -> Result<Library, LibraryError> {
        let path = path.as_ref();
        let prefix = find_prefix(path)?;
        Library::load_with_prefix(path, &prefix)
    }

    /// Loads a library built with `--prefix PREFIX`, refusing it before any model code runs when
    /// this CPU lacks a feature it was built for.
    pub fn load_with_prefix(path: impl AsRef<Path>, prefix: &str) -> Result<Library, LibraryError> {
        let path = path.as_ref();
        let not_a_model = |reason: String| LibraryError::NotAModel {
            path: path.to_path_buf(),
            reason,
        };
        // SAFETY: loading runs the library's initializers; a qcc library has only libgcc's CPU
        // detection among them, and anything else is the caller's choice of file.
        // dlopen searches the library path for a bare file name; `model.so` means the file here.
        let open_path = if path.is_relative() && path.components().count() == 1 {
            Path::new(".").join(path)
        } else {
            path.to_path_buf()
        };
        let lib = unsafe { libloading::Library::new(&open_path) }.map_err(|e| {
            // libloading's own message is only "dlopen failed"; dlerror's text is its source.
            let mut reason = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                reason = format!("{reason}: {s}");
                source = s.source();
            }
            LibraryError::Open {
                path: path.to_path_buf(),
                reason,
            }
        })?;
        let symbol = |name: String| -> Result<*const c_void, LibraryError> {
            // SAFETY: only the address is taken here; its type is fixed by the C ABI.
            unsafe { lib.get::<*const c_void>(name.as_bytes()) }
                .map(|s| *s)
                .map_err(|_| not_a_model(format!("it does not export `{name}`")))
        };
        let json_ptr = symbol(format!("{prefix}_model_json"))?;
        let size_ptr = symbol(format!("{prefix}_scratch_size"))?;
        let run_ptr = symbol(format!("{prefix}_run"))?;
        let size_threads_ptr = symbol(format!("{prefix}_scratch_size_threads"))?;
        let run_threads_ptr = symbol(format!("{prefix}_run_threads"))?;
        let run_parallel_ptr = symbol(format!("{prefix}_run_parallel"))?;
        // SAFETY: these are the C ABI's signatures; the shim's two accessors execute no
        // model code (they are compiled for the baseline CPU) and so are safe to call before the
        // feature check.
        let (json_fn, size_fn, run): (JsonFn, SizeFn, RunFn) = unsafe {
            (
                std::mem::transmute::<*const c_void, JsonFn>(json_ptr),
                std::mem::transmute::<*const c_void, SizeFn>(size_ptr),
                std::mem::transmute::<*const c_void, RunFn>(run_ptr),
            )
        };
        // SAFETY: as above, the ABI's signatures.
        let (size_threads, run_threads, run_parallel) = unsafe {
            (
                std::mem::transmute::<*const c_void, SizeThreadsFn>(size_threads_ptr),
                std::mem::transmute::<*const c_void, RunThreadsFn>(run_threads_ptr),
                std::mem::transmute::<*const c_void, RunParallelFn>(run_parallel_ptr),
            )
        };
        let json = unsafe { json_fn() };
        if json.is_null() {
            return Err(not_a_model(format!("`{prefix}_model_json` returned null")));
        }
        // SAFETY: a NUL-terminated string constant inside the library, alive while it is loaded.
        let json = unsafe { CStr::from_ptr(json) }
            .to_str()
            .map_err(|_| not_a_model(format!("`{prefix}_model_json` is not UTF-8")))?;
        let info = parse_info(json).map_err(|e| not_a_model(format!("its description {e}")))?;
        if info.prefix != prefix {
            return Err(not_a_model(format!(
                "its description names the prefix `{}`, not `{prefix}`",
                info.prefix
            )));
        }
        let size = unsafe { size_fn() };
        if size != info.scratch_size {
            return Err(not_a_model(format!(
                "`{prefix}_scratch_size()` is {size} but its description says {}",
                info.scratch_size
            )));
        }
        let missing = crate::cpu::missing(info.features.iter().map(|s| s.as_str()));
        if !missing.is_empty() {
            return Err(LibraryError::MissingFeatures {
                path: path.to_path_buf(),
                missing: missing.into_iter().map(String::from).collect(),
            });
        }
        Ok(Library {
            info,
            path: path.to_path_buf(),
            run,
            size_threads,
            run_threads,
            run_parallel,
            _lib: lib,
        })
    }

    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A fresh scratch arena of the size this model needs.
    pub fn scratch(&self) -> Scratch {
        Scratch::new(self.info.scratch_size)
    }

    /// Runs the model on inputs of its ports' types, in its input order; outputs come back in
    /// its output order, each of its port's type.
    pub fn run(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>, LibraryError> {
        let mut scratch = self.scratch();
        self.run_with_scratch(inputs, &mut scratch)
    }

    /// As [`Library::run`], computing in the caller's scratch (at least `scratch_size` bytes).
    pub fn run_with_scratch(
        &self,
        inputs: &[Tensor],
        scratch: &mut Scratch,
    ) -> Result<Vec<Tensor>, LibraryError> {
        let needed = self.info.scratch_size;
        // SAFETY: run_tensors_with passes buffers of the ports' sizes and a scratch of `needed`.
        self.run_tensors_with(inputs, scratch, needed, |i, o, s| unsafe {
            self.run_raw(i, o, s)
        })
    }

    /// As [`Library::run_with_scratch`], on borrowed f32 arrays, for a model whose ports are all
    /// f32: callers that hold their data elsewhere (numpy, through the Python package) pass it
    /// without a copy when it is row-major.
    pub fn run_views(
        &self,
        inputs: &[ArrayViewD<'_, f32>],
        scratch: &mut Scratch,
    ) -> Result<Vec<ArrayD<f32>>, LibraryError> {
        let needed = self.info.scratch_size;
        // SAFETY: run_views_with passes buffers of the ports' sizes and a scratch of `needed`.
        self.run_views_with(inputs, scratch, needed, |i, o, s| unsafe {
            self.run_raw(i, o, s)
        })
    }

    /// Bytes of scratch a run on `threads` threads needs (`NAME_scratch_size_threads`).
    pub fn scratch_size_threads(&self, threads: usize) -> usize {
        // SAFETY: a pure function of the shim, compiled for the baseline CPU.
        unsafe { (self.size_threads)(threads) }
    }

    /// A fresh scratch arena for runs on `threads` threads.
    pub fn scratch_threads(&self, threads: usize) -> Scratch {
        Scratch::new(self.scratch_size_threads(threads))
    }

    /// As [`Library::run`] on `threads` threads (the calling one and `threads - 1` that the
    /// library starts and joins): the same outputs, bit for bit, for every thread count.
    pub fn run_threads(
        &self,
        inputs: &[Tensor],
        threads: usize,
    ) -> Result<Vec<Tensor>, LibraryError> {
        let mut scratch = self.scratch_threads(threads);
        self.run_tensors_threads(inputs, &mut scratch, threads)
    }

    /// As [`Library::run_threads`], in the caller's scratch (at least
    /// [`Library::scratch_size_threads`] bytes).
    pub fn run_tensors_threads(
        &self,
        inputs: &[Tensor],
        scratch: &mut Scratch,
        threads: usize,
    ) -> Result<Vec<Tensor>, LibraryError> {
        let needed = self.scratch_size_threads(threads);
        // SAFETY: as run_with_scratch, with the scratch the thread count needs.
        self.run_tensors_with(inputs, scratch, needed, |i, o, s| unsafe {
            (self.run_threads)(i, o, s, threads)
        })
    }

    /// As [`Library::run_views`] on `threads` threads, in the caller's scratch (at least
    /// [`Library::scratch_size_threads`] bytes).
    pub fn run_views_threads(
        &self,
        inputs: &[ArrayViewD<'_, f32>],
        scratch: &mut Scratch,
        threads: usize,
    ) -> Result<Vec<ArrayD<f32>>, LibraryError> {
        let needed = self.scratch_size_threads(threads);
        // SAFETY: as run_views, with the scratch the thread count needs.
        self.run_views_with(inputs, scratch, needed, |i, o, s| unsafe {
            (self.run_threads)(i, o, s, threads)
        })
    }

    /// As [`Library::run_views_threads`] on the threads of the caller's `pool`, which runs at
    /// most `threads` of the library's tasks at once (`NAME_run_parallel`).
    pub fn run_views_parallel(
        &self,
        inputs: &[ArrayViewD<'_, f32>],
        scratch: &mut Scratch,
        threads: usize,
        pool: &dyn ParallelFor,
    ) -> Result<Vec<ArrayD<f32>>, LibraryError> {
        let needed = self.scratch_size_threads(threads);
        let pool_ref: &dyn ParallelFor = pool;
        let pool_ptr = &pool_ref as *const &dyn ParallelFor as *mut c_void;
        // SAFETY: as run_views; `pool_ptr` outlives the call, and the trampoline reads it back
        // as the `&dyn ParallelFor` it is.
        self.run_views_with(inputs, scratch, needed, |i, o, s| unsafe {
            (self.run_parallel)(i, o, s, threads, parallel_for_trampoline, pool_ptr)
        })
    }

    /// Checks the inputs' count, types and shapes and the scratch (`needed` bytes), allocates
    /// the outputs of their ports' types and calls `call(inputs, outputs, scratch)`, one of the
    /// ABI's entries.
    fn run_tensors_with(
        &self,
        inputs: &[Tensor],
        scratch: &mut Scratch,
        needed: usize,
        call: impl FnOnce(InPtrs, OutPtrs, *mut c_void) -> i32,
    ) -> Result<Vec<Tensor>, LibraryError> {
        let arrays = self.check_inputs(inputs)?;
        let in_ptrs: Vec<*const c_void> = arrays
            .iter()
            .map(|t| crate::tensor_each!(&**t, a => a.as_ptr().cast::<c_void>()))
            .collect();
        let mut outputs: Vec<Tensor> = self
            .info
            .outputs
            .iter()
            .map(|p| Tensor::zeros(p.dtype, &p.shape))
            .collect();
        let out_ptrs: Vec<*mut c_void> = outputs
            .iter_mut()
            .map(|t| crate::tensor_each!(t, a => a.as_mut_ptr().cast::<c_void>()))
            .collect();
        self.invoke(&in_ptrs, &out_ptrs, scratch, needed, call)?;
        Ok(outputs)
    }

    /// [`Library::run_tensors_with`] on f32 views, for a model whose ports are all f32.
    fn run_views_with(
        &self,
        inputs: &[ArrayViewD<'_, f32>],
        scratch: &mut Scratch,
        needed: usize,
        call: impl FnOnce(InPtrs, OutPtrs, *mut c_void) -> i32,
    ) -> Result<Vec<ArrayD<f32>>, LibraryError> {
        let info = &self.info;
        let ports = info.inputs.iter().map(|p| ("input", p));
        if let Some((kind, p)) = ports
            .chain(info.outputs.iter().map(|p| ("output", p)))
            .find(|(_, p)| p.dtype != DType::F32)
        {
            return Err(LibraryError::NotF32 {
                model: info.model_name.clone(),
                kind,
                name: p.name.clone(),
                dtype: p.dtype,
            });
        }
        let arrays = self.check_views(inputs)?;
        let mut outputs: Vec<ArrayD<f32>> = info
            .outputs
            .iter()
            .map(|p| ArrayD::zeros(IxDyn(&p.shape)))
            .collect();
        let in_ptrs: Vec<*const c_void> = arrays.iter().map(|a| a.as_ptr().cast()).collect();
        let out_ptrs: Vec<*mut c_void> =
            outputs.iter_mut().map(|a| a.as_mut_ptr().cast()).collect();
        self.invoke(&in_ptrs, &out_ptrs, scratch, needed, call)?;
        Ok(outputs)
    }

    /// Checks the scratch against `needed` and calls an entry on buffers the caller checked.
    fn invoke(
        &self,
        in_ptrs: &[*const c_void],
        out_ptrs: &[*mut c_void],
        scratch: &mut Scratch,
        needed: usize,
        call: impl FnOnce(InPtrs, OutPtrs, *mut c_void) -> i32,
    ) -> Result<(), LibraryError> {
        let info = &self.info;
        if scratch.len() < needed {
            return Err(LibraryError::ScratchSize {
                model: info.model_name.clone(),
                given: scratch.len(),
                needed,
            });
        }
        debug_assert_eq!(scratch.as_mut_ptr() as usize % SCRATCH_ALIGN, 0);
        // Every input and output buffer has exactly its port's element count and type, in
        // standard layout; the scratch is aligned and large enough; the CPU was checked at load.
        let code = call(
            in_ptrs.as_ptr(),
            out_ptrs.as_ptr(),
            scratch.as_mut_ptr().cast(),
        );
        if code != RUN_OK {
            return Err(LibraryError::Run {
                prefix: info.prefix.clone(),
                code,
            });
        }
        Ok(())
    }

    /// The inputs as row-major tensors of their ports' types (borrowed when they already are),
    /// after checking their count, types and shapes.
    pub fn check_inputs<'a>(
        &self,
        inputs: &'a [Tensor],
    ) -> Result<Vec<std::borrow::Cow<'a, Tensor>>, LibraryError> {
        use std::borrow::Cow;
        let info = &self.info;
        self.check_count(inputs.len())?;
        let mut arrays = Vec::with_capacity(inputs.len());
        for (port, t) in info.inputs.iter().zip(inputs) {
            if t.dtype() != port.dtype {
                return Err(LibraryError::InputType {
                    model: info.model_name.clone(),
                    name: port.name.clone(),
                    expected: port.dtype.name().to_string(),
                    dtype: t.dtype().name().to_string(),
                });
            }
            self.check_shape(port, t.shape())?;
            let standard = crate::tensor_each!(t, a => a.is_standard_layout());
            // The library reads row-major memory; tensors with other strides are copied.
            arrays.push(if standard {
                Cow::Borrowed(t)
            } else {
                Cow::Owned(crate::tensor_map!(t, a => a.as_standard_layout().into_owned()))
            });
        }
        Ok(arrays)
    }

    fn check_count(&self, given: usize) -> Result<(), LibraryError> {
        let info = &self.info;
        if given == info.inputs.len() {
            return Ok(());
        }
        Err(LibraryError::InputCount {
            model: info.model_name.clone(),
            expected: info.inputs.len(),
            given,
            names: info
                .inputs
                .iter()
                .map(|p| format!("%{}", p.name))
                .collect::<Vec<_>>()
                .join(", "),
        })
    }

    fn check_shape(&self, port: &PortInfo, given: &[usize]) -> Result<(), LibraryError> {
        if given == port.shape.as_slice() {
            return Ok(());
        }
        Err(LibraryError::Shape {
            model: self.info.model_name.clone(),
            name: port.name.clone(),
            expected: Shape(port.shape.clone()),
            given: Shape(given.to_vec()),
        })
    }

    /// The f32 inputs as row-major arrays (borrowed when they already are), after checking
    /// their count and shapes.
    fn check_views<'a>(
        &self,
        inputs: &[ArrayViewD<'a, f32>],
    ) -> Result<Vec<CowArray<'a, f32, IxDyn>>, LibraryError> {
        self.check_count(inputs.len())?;
        let mut arrays = Vec::with_capacity(inputs.len());
        for (port, a) in self.info.inputs.iter().zip(inputs) {
            self.check_shape(port, a.shape())?;
            // The library reads row-major memory; views with other strides are copied.
            arrays.push(if a.is_standard_layout() {
                CowArray::from(a.clone())
            } else {
                CowArray::from(a.as_standard_layout().into_owned())
            });
        }
        Ok(arrays)
    }

    /// Calls `NAME_run` directly.
    ///
    /// # Safety
    /// `inputs` and `outputs` point to arrays of one pointer per port, each to a buffer of the
    /// port's element count and type (or are null, which the library reports as an error);
    /// `scratch` points to `scratch_size` writable bytes.
    pub unsafe fn run_raw(
        &self,
        inputs: *const *const c_void,
        outputs: *const *mut c_void,
        scratch: *mut c_void,
    ) -> i32 {
        unsafe { (self.run)(inputs, outputs, scratch) }
    }

    /// Calls `NAME_run_threads` directly.
    ///
    /// # Safety
    /// As [`Library::run_raw`], with `scratch` pointing to
    /// [`Library::scratch_size_threads`]`(threads)` writable bytes.
    pub unsafe fn run_threads_raw(
        &self,
        inputs: *const *const c_void,
        outputs: *const *mut c_void,
        scratch: *mut c_void,
        threads: usize,
    ) -> i32 {
        unsafe { (self.run_threads)(inputs, outputs, scratch, threads) }
    }

    /// Calls `NAME_run_parallel` directly, on `pool`.
    ///
    /// # Safety
    /// As [`Library::run_threads_raw`].
    pub unsafe fn run_parallel_raw(
        &self,
        inputs: *const *const c_void,
        outputs: *const *mut c_void,
        scratch: *mut c_void,
        threads: usize,
        pool: &dyn ParallelFor,
    ) -> i32 {
        let pool_ref: &dyn ParallelFor = pool;
        let pool_ptr = &pool_ref as *const &dyn ParallelFor as *mut c_void;
        // SAFETY: the caller's promise; `pool_ptr` outlives the call.
        unsafe {
            (self.run_parallel)(
                inputs,
                outputs,
                scratch,
                threads,
                parallel_for_trampoline,
                pool_ptr,
            )
        }
    }
}

/// The prefix `NAME` of the one model a library exports, from its dynamic symbol table.
fn find_prefix(path: &Path) -> Result<String, LibraryError> {
    use object::{Object, ObjectSymbol};
    let not_a_model = |reason: String| LibraryError::NotAModel {
        path: path.to_path_buf(),
        reason,
    };
    let bytes = std::fs::read(path).map_err(|e| LibraryError::Open {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let file = object::File::parse(&*bytes)
        .map_err(|e| not_a_model(format!("it is not a shared library ({e})")))?;
    let defined: std::collections::BTreeSet<&str> = file
        .dynamic_symbols()
        .filter(|s| s.is_definition())
        .filter_map(|s| s.name().ok())
        .collect();
    let prefixes: Vec<&str> = defined
        .iter()
        .filter_map(|n| n.strip_suffix("_model_json"))
        .filter(|p| {
            defined.contains(format!("{p}_run").as_str())
                && defined.contains(format!("{p}_scratch_size").as_str())
        })
        .collect();
    match prefixes.as_slice() {
        [one] => Ok(one.to_string()),
        [] => Err(not_a_model(
            "it exports no `NAME_model_json` with its `NAME_run` and `NAME_scratch_size`".into(),
        )),
        many => Err(not_a_model(format!(
            "it holds several models ({}); load one with Library::load_with_prefix",
            many.join(", ")
        ))),
    }
}

/// Parses `NAME_model_json`; the error completes the sentence "its description …".
pub fn parse_info(json: &str) -> Result<ModelInfo, String> {
    use serde_json::Value;
    let v: Value = serde_json::from_str(json).map_err(|e| format!("is not JSON ({e})"))?;
    let field = |k: &str| v.get(k).ok_or_else(|| format!("lacks `{k}`"));
    let string = |k: &str| -> Result<String, String> {
        field(k)?
            .as_str()
            .map(String::from)
            .ok_or_else(|| format!("has a non-string `{k}`"))
    };
    let uint = |x: &Value, k: &str| -> Result<u64, String> {
        x.as_u64()
            .ok_or_else(|| format!("has a `{k}` that is not a non-negative integer"))
    };
    let abi = uint(field("abi")?, "abi")?;
    if abi != ABI_VERSION {
        return Err(format!(
            "is of ABI version {abi}; this runtime reads version {ABI_VERSION}"
        ));
    }
    let ports = |k: &str| -> Result<Vec<PortInfo>, String> {
        let list = field(k)?
            .as_array()
            .ok_or_else(|| format!("has a non-list `{k}`"))?;
        list.iter()
            .map(|p| {
                let name = p
                    .get("name")
                    .and_then(Value::as_str)
                    .ok_or_else(|| format!("has an entry of `{k}` without a name"))?;
                let dtype = p
                    .get("dtype")
                    .and_then(Value::as_str)
                    .and_then(DType::from_name)
                    .filter(|d| PORT_TYPES.contains(d))
                    .ok_or_else(|| {
                        format!(
                            "gives {k} `{name}` a dtype other than {}",
                            PORT_TYPES.map(DType::name).join(", ")
                        )
                    })?;
                let shape = p
                    .get("shape")
                    .and_then(Value::as_array)
                    .ok_or_else(|| format!("gives {k} `{name}` no shape"))?
                    .iter()
                    .map(|d| uint(d, "shape").map(|d| d as usize))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(PortInfo {
                    name: name.to_string(),
                    shape,
                    dtype,
                })
            })
            .collect()
    };
    let features = field("features")?
        .as_array()
        .ok_or("has a non-list `features`")?
        .iter()
        .map(|f| {
            f.as_str()
                .map(String::from)
                .ok_or_else(|| "has a non-string feature".to_string())
        })
        .collect::<Result<Vec<_>, _>>()?;
    let weight_bits = uint(field("weight_bits")?, "weight_bits")?;
    Ok(ModelInfo {
        prefix: string("prefix")?,
        model_name: string("model")?,
        inputs: ports("inputs")?,
        outputs: ports("outputs")?,
        scratch_size: uint(field("scratch_size")?, "scratch_size")? as usize,
        features,
        target: string("target")?,
        weight_bits: u8::try_from(weight_bits)
            .map_err(|_| format!("has weight_bits {weight_bits}"))?,
        qcc_version: string("qcc_version")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One loaded model is shared by threads, each with its own scratch.
    #[test]
    fn model_and_scratch_cross_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<Library>();
        send_sync::<Scratch>();
    }

    #[test]
    fn descriptions_that_do_not_parse() {
        let good = r#"{"abi":2,"features":["avx2"],"inputs":[{"dtype":"f32","elements":6,"name":"x","shape":[1,6]}],"model":"m","outputs":[{"dtype":"f32","elements":6,"name":"y","shape":[1,6]}],"prefix":"qcc","qcc_version":"0.1.0","scratch_size":64,"target":"native","weight_bits":7}"#;
        let info = parse_info(good).expect("parses");
        assert_eq!(info.inputs[0].shape, vec![1, 6]);
        for (edit, why) in [
            (
                ("\"abi\":2", "\"abi\":1"),
                "is of ABI version 1; this runtime reads version 2",
            ),
            (
                (
                    "\"dtype\":\"f32\",\"elements\":6,\"name\":\"x\"",
                    "\"dtype\":\"f16\",\"elements\":6,\"name\":\"x\"",
                ),
                "gives inputs `x` a dtype other than f32, i8, u8, i32, i64, bool",
            ),
            (
                ("\"weight_bits\":7", "\"weight_bits\":700"),
                "has weight_bits 700",
            ),
            (("\"prefix\":\"qcc\",", ""), "lacks `prefix`"),
            (
                ("{", "["),
                "is not JSON (expected `,` or `]` at line 1 column 7)",
            ),
        ] {
            let text = good.replacen(edit.0, edit.1, 1);
            assert_eq!(parse_info(&text).expect_err(why), why);
        }
    }
}
