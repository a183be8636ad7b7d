//! From the code generator's object file to `model.so` and `model.h`: a small C shim (the
//! exported entry points, which check the CPU and the pointers before calling the generated
//! `NAME_run_impl`) compiled and linked by the system C compiler.
//!
//! Everything is compiled in a temporary directory under fixed, relative file names, so no path
//! ends up in the library and two links of the same inputs give the same bytes. A linker
//! version script exports exactly the three ABI functions (and a profiling build's four profile
//! readers): `NAME_run_impl` and libgcc's CPU detection stay local, so two models in one process
//! never bind to each other's code.

use crate::backend::header;
use crate::backend::interface::Interface;
use crate::diag::{Error, IoContext, Result};
use crate::fsio::{write_contents_atomic, Contents};
use runtime::scratch::SCRATCH_ALIGN;
use std::ffi::OsString;
use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// File names inside the temporary link directory (fixed: they may appear in the library).
const SHIM_C: &str = "qcc_shim.c";
const HEADER_H: &str = "qcc_model.h";
const OBJECT_O: &str = "qcc_model.o";
const EXPORTS_MAP: &str = "qcc_exports.map";
const LIBRARY_SO: &str = "qcc_model.so";

/// Where the header of `library` goes: beside it, `<stem>.h`.
pub fn header_path(library: &Path) -> PathBuf {
    library.with_extension("h")
}

/// A C string literal holding `s`: printable ASCII as is, everything else as three-digit octal
/// escapes (which, unlike `\x`, cannot swallow the characters that follow).
pub fn c_string_literal(s: &str) -> String {
    let mut out = String::from("\"");
    for b in s.bytes() {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            // `?` escaped so that no trigraph can form.
            b'?' => out.push_str("\\?"),
            0x20..=0x7e => out.push(b as char),
            _ => {
                let _ = write!(out, "\\{b:03o}");
            }
        }
    }
    out.push('"');
    out
}

/// The C shim: the three exported functions of the ABI around the generated `NAME_run_impl`.
pub fn shim_source(iface: &Interface) -> String {
    let n = &iface.prefix;
    let p = header::macro_prefix(iface);
    let (ins, outs) = iface.pointer_types();
    let cpu_checks = if iface.features.is_empty() {
        "    return 1;".to_string()
    } else {
        let tests: Vec<String> = iface
            .features
            .iter()
            .map(|f| format!("__builtin_cpu_supports({})", c_string_literal(f)))
            .collect();
        format!("    return {};", tests.join("\n        && "))
    };
    format!(
        "/* The exported entry points of model @{model} (written by qcc; see {HEADER_H}). */
{prelude}#include <stdint.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <linux/futex.h>
#include \"{HEADER_H}\"

/* The generated code: assumes the CPU features and an aligned, large enough scratch. */
int32_t {n}_run_impl({ins}inputs, {outs}outputs, void *scratch);

static const char model_json[] = {json};

size_t {n}_scratch_size(void) {{ return {p}_SCRATCH_SIZE; }}

const char *{n}_model_json(void) {{ return model_json; }}

static int cpu_supported(void) {{
    /* Explicitly: the library may be called from another constructor before libgcc's runs. */
    __builtin_cpu_init();
{cpu_checks}
}}

/* What every entry checks before running anything: {p}_OK or the error to return. */
static int check_call({ins}inputs, {outs}outputs, void *scratch) {{
    if (!cpu_supported()) return {p}_ERR_CPU;
    if (({p}_NUM_INPUTS > 0 && !inputs) || !outputs) return {p}_ERR_NULL;
    for (int i = 0; i < {p}_NUM_INPUTS; i++)
        if (!inputs[i]) return {p}_ERR_NULL;
    for (int i = 0; i < {p}_NUM_OUTPUTS; i++)
        if (!outputs[i]) return {p}_ERR_NULL;
    if ({p}_SCRATCH_SIZE > 0 && !scratch) return {p}_ERR_NULL;
    if ((uintptr_t)scratch % {SCRATCH_ALIGN} != 0) return {p}_ERR_ALIGN;
    return {p}_OK;
}}

int {n}_run({ins}inputs, {outs}outputs, void *scratch) {{
    int rc = check_call(inputs, outputs, scratch);
    if (rc != {p}_OK) return rc;
    return {n}_run_impl(inputs, outputs, scratch);
}}
{threads}{profile}",
        model = header::comment_safe(&iface.model_name),
        json = c_string_literal(&iface.model_json()),
        profile = profile_source(iface),
        threads = threads_source(iface),
        // clock_gettime and CLOCK_MONOTONIC are POSIX, hidden by a strict `-std=c11` unless
        // asked for before the first include.
        prelude = if iface.profile.is_some() {
            "#define _GNU_SOURCE\n#include <time.h>\n"
        } else {
            "#define _GNU_SOURCE\n"
        },
    )
}

/// The threaded entries (ARCHITECTURE.md, "Threads"): `NAME_scratch_size_threads`,
/// `NAME_run_threads` (a team of threads it starts and joins) and `NAME_run_parallel` (the
/// caller's pool). Both first lower the thread count to what the work pays for
/// ([`Interface::extra_threads_paid`]; none: `NAME_run`'s code), then run the steps in order,
/// each split into `parts = min(threads, most)` parts of its work units (`most` from
/// [`Interface::most_parts`]; `NAME_step_impl` computes one part); part `i` > 0 keeps its
/// temporaries in region `i - 1` beyond the arena. A team waits at a barrier between two steps
/// unless both run on the calling thread alone; the pool variant's `parallel_for` returning is
/// that barrier. Parts write disjoint bytes and no reduction is split, so every thread count
/// computes the same bytes as `NAME_run`.
fn threads_source(iface: &Interface) -> String {
    let n = &iface.prefix;
    let p = header::macro_prefix(iface);
    let (ins, outs) = iface.pointer_types();
    let list = |f: &dyn Fn(&crate::backend::interface::Split) -> usize| -> String {
        iface
            .splits
            .iter()
            .map(|s| f(s).to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let arena = iface.scratch_size.div_ceil(SCRATCH_ALIGN) * SCRATCH_ALIGN;
    format!(
        "
/* Threads: each step's work units and where its temporaries start (see {n}_step_impl). */
void {n}_step_impl({ins}inputs, {outs}outputs, void *scratch, int64_t step,
    int64_t lo, int64_t hi, int64_t temp_shift);
#define STEPS {steps}
static const uint64_t step_units[] = {{ {units} }};
static const uint64_t step_temp_lo[] = {{ {temp_lo} }};
/* The most parts each step is worth splitting into, and the most threads beyond the caller's
 * the whole run pays for (both from estimated work: see qcc's backend/work.rs). */
static const uint64_t step_most[] = {{ {most} }};
#define EXTRA_PAID ((uint64_t){extra})
/* The arena rounded to whole cache lines, and each further part's temporaries. */
#define ARENA_BYTES ((uint64_t){arena})
#define TEMP_SPAN ((uint64_t){span})

size_t {n}_scratch_size_threads(size_t threads) {{
    if (threads <= 1 || TEMP_SPAN == 0) return {p}_SCRATCH_SIZE;
    if (threads - 1 > (SIZE_MAX - ARENA_BYTES) / (TEMP_SPAN ? TEMP_SPAN : 1)) return SIZE_MAX;
    return ARENA_BYTES + (threads - 1) * TEMP_SPAN;
}}

struct job {{
    {ins}inputs;
    {outs}outputs;
    void *scratch;
    size_t threads;
}};

static size_t parts_of(const struct job *j, size_t s) {{
    return step_most[s] < j->threads ? step_most[s] : j->threads;
}}

/* `threads`, lowered to what the run pays for. */
static size_t paid_threads(size_t threads) {{
    return threads - 1 > EXTRA_PAID ? (size_t)EXTRA_PAID + 1 : threads;
}}

static void run_part(const struct job *j, size_t s, size_t part, size_t parts) {{
    uint64_t u = step_units[s];
    int64_t lo = (int64_t)(u * part / parts), hi = (int64_t)(u * (part + 1) / parts);
    int64_t shift = part == 0 ? 0
        : (int64_t)(ARENA_BYTES + (part - 1) * TEMP_SPAN) - (int64_t)step_temp_lo[s];
    {n}_step_impl(j->inputs, j->outputs, j->scratch, (int64_t)s, lo, hi, shift);
}}

/* A barrier for a team that lives for one run: spin briefly (steps are short), then sleep
 * on a futex. */
struct barrier {{
    unsigned count, threads, generation;
}};

static void futex_wait(unsigned *at, unsigned value) {{
    syscall(SYS_futex, at, FUTEX_WAIT_PRIVATE, value, NULL, NULL, 0);
}}

static void futex_wake(unsigned *at) {{
    syscall(SYS_futex, at, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}}

static void barrier_wait(struct barrier *b) {{
    unsigned gen = __atomic_load_n(&b->generation, __ATOMIC_ACQUIRE);
    if (__atomic_add_fetch(&b->count, 1, __ATOMIC_ACQ_REL) == b->threads) {{
        __atomic_store_n(&b->count, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&b->generation, gen + 1, __ATOMIC_RELEASE);
        futex_wake(&b->generation);
        return;
    }}
    for (int i = 0; i < 2000; i++) {{
        if (__atomic_load_n(&b->generation, __ATOMIC_ACQUIRE) != gen) return;
        __builtin_ia32_pause();
    }}
    while (__atomic_load_n(&b->generation, __ATOMIC_ACQUIRE) == gen)
        futex_wait(&b->generation, gen);
}}

struct team {{
    struct job job;
    struct barrier barrier;
    /* 0 until every thread started, then 1 (run) or 2 (a thread failed to start: leave). */
    unsigned gate;
}};

struct member {{
    struct team *team;
    size_t index;
    pthread_t thread;
}};

/* Thread `me` of the team: its part of every step, waiting at the barrier between steps
 * that are not both the calling thread's alone. */
static void team_run(struct team *t, size_t me) {{
    const struct job *j = &t->job;
    for (size_t s = 0; s < STEPS; s++) {{
        size_t parts = parts_of(j, s);
        if (me < parts) run_part(j, s, me, parts);
        if (s + 1 < STEPS && (parts > 1 || parts_of(j, s + 1) > 1))
            barrier_wait(&t->barrier);
    }}
}}

static void *team_member(void *arg) {{
    struct member *m = arg;
    unsigned gate;
    /* The caller opens the gate as soon as the last member is created: a short spin saves
     * this thread a sleep and the wake-up that would follow at once. */
    for (int i = 0; i < 2000 && __atomic_load_n(&m->team->gate, __ATOMIC_ACQUIRE) == 0; i++)
        __builtin_ia32_pause();
    while ((gate = __atomic_load_n(&m->team->gate, __ATOMIC_ACQUIRE)) == 0)
        futex_wait(&m->team->gate, 0);
    if (gate == 1) team_run(m->team, m->index);
    return NULL;
}}

static void open_gate(struct team *t, unsigned value) {{
    __atomic_store_n(&t->gate, value, __ATOMIC_RELEASE);
    futex_wake(&t->gate);
}}

/* The most threads a team starts: the stack holds one record per member. */
#define MAX_TEAM 256

int {n}_run_threads({ins}inputs, {outs}outputs, void *scratch,
                    size_t threads) {{
    int rc = check_call(inputs, outputs, scratch);
    if (rc != {p}_OK) return rc;
    if (threads > MAX_TEAM) threads = MAX_TEAM;
    if (threads <= 1 || (threads = paid_threads(threads)) <= 1)
        return {n}_run_impl(inputs, outputs, scratch);
    struct team t = {{ {{ inputs, outputs, scratch, threads }}, {{ 0, (unsigned)threads, 0 }}, 0 }};
    struct member members[MAX_TEAM];
    size_t started = 0;
    /* The members start away from the calling thread's CPU when the CPUs it may use leave one
     * for each. Left to the kernel, a new thread on an idle virtual machine was put beside its
     * creator (the other vCPU asleep) and the team ran as one thread: on an AMD EPYC, ResNet-18
     * on 2 threads after 20 ms of quiet took 11.6 ms, on 1 thread 9.1 ms, on 2 threads kept
     * busy 4.9 ms. The members may use every other CPU the caller may, and are joined before
     * the run returns. */
    pthread_attr_t attr, *pattr = NULL;
    cpu_set_t away;
    if (pthread_getaffinity_np(pthread_self(), sizeof away, &away) == 0) {{
        int here = sched_getcpu();
        if (here >= 0 && here < CPU_SETSIZE && CPU_ISSET(here, &away)
            && (size_t)CPU_COUNT(&away) >= threads && pthread_attr_init(&attr) == 0) {{
            CPU_CLR(here, &away);
            if (pthread_attr_setaffinity_np(&attr, sizeof away, &away) == 0) pattr = &attr;
            else pthread_attr_destroy(&attr);
        }}
    }}
    for (size_t i = 1; i < threads; i++) {{
        members[i].team = &t;
        members[i].index = i;
        /* A placement the system refuses is no reason to run alone: try without it. */
        if (pthread_create(&members[i].thread, pattr, team_member, &members[i]) != 0
            && (!pattr || pthread_create(&members[i].thread, NULL, team_member, &members[i]) != 0))
            break;
        started = i;
    }}
    if (pattr) pthread_attr_destroy(pattr);
    if (started + 1 < threads) {{
        /* The system refused a thread: release the ones started and compute alone. */
        open_gate(&t, 2);
        for (size_t i = 1; i <= started; i++) pthread_join(members[i].thread, NULL);
        return {n}_run_impl(inputs, outputs, scratch);
    }}
    open_gate(&t, 1);
    team_run(&t, 0);
    for (size_t i = 1; i < threads; i++) pthread_join(members[i].thread, NULL);
    return {p}_OK;
}}

struct pool_step {{
    const struct job *job;
    size_t step, parts;
}};

static void pool_task(void *ctx, size_t i) {{
    const struct pool_step *ps = ctx;
    if (i < ps->parts) run_part(ps->job, ps->step, i, ps->parts);
}}

int {n}_run_parallel({ins}inputs, {outs}outputs, void *scratch,
                     size_t threads,
                     void (*parallel_for)(void *pool, void (*task)(void *ctx, size_t i), void *ctx,
                                          size_t count),
                     void *pool) {{
    int rc = check_call(inputs, outputs, scratch);
    if (rc != {p}_OK) return rc;
    if (!parallel_for) return {p}_ERR_NULL;
    threads = threads ? paid_threads(threads) : 1;
    if (threads == 1) return {n}_run_impl(inputs, outputs, scratch);
    struct job j = {{ inputs, outputs, scratch, threads }};
    for (size_t s = 0; s < STEPS; s++) {{
        struct pool_step ps = {{ &j, s, parts_of(&j, s) }};
        if (ps.parts == 1) run_part(&j, s, 0, 1);
        else parallel_for(pool, pool_task, &ps, ps.parts);
    }}
    return {p}_OK;
}}
",
        steps = iface.splits.len(),
        units = list(&|s| s.units),
        temp_lo = list(&|s| s.temp_lo),
        most = list(&|s| iface.most_parts(s)),
        extra = iface.extra_threads_paid(),
        span = iface.temp_span,
    )
}

/// A profiling build's part of the shim (empty otherwise): `NAME_profile_mark`, which the
/// generated entry calls between kernels, and the exported functions that read the profile.
///
/// The clock is CLOCK_MONOTONIC in nanoseconds (a vDSO call, no system call, about 20 ns): wall
/// time, so a step the thread was preempted in counts the wait; readers take the median over
/// runs. Each mark's own cost lands in the step after it. The totals are added atomically and
/// the previous mark is per thread, so threads may run the model at once; their times add up.
fn profile_source(iface: &Interface) -> String {
    let Some(steps) = &iface.profile else {
        return String::new();
    };
    let n = &iface.prefix;
    let p = header::macro_prefix(iface);
    let lines: String = steps.iter().map(|st| st.line() + "\n").collect();
    format!(
        "
/* Profiling build (qcc --profile): the nanoseconds spent in each step, summed over runs. */
static const char profile_steps[] = {lines};
/* At least one slot: every model has a step, but C has no empty arrays. */
static uint64_t profile_ns[{p}_PROFILE_STEPS > 0 ? {p}_PROFILE_STEPS : 1];
static uint64_t profile_runs;
/* When the calling thread's current step began. */
static _Thread_local uint64_t profile_last;

static uint64_t profile_now(void) {{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}}

/* Called by {n}_run_impl with 0 before the first kernel, i before kernel i, and
 * {p}_PROFILE_STEPS after the last: step i - 1 ran from the previous mark until now. */
void {n}_profile_mark(int64_t step) {{
    uint64_t now = profile_now();
    if (step == 0)
        __atomic_fetch_add(&profile_runs, 1, __ATOMIC_RELAXED);
    else if (step <= {p}_PROFILE_STEPS)
        __atomic_fetch_add(&profile_ns[step - 1], now - profile_last, __ATOMIC_RELAXED);
    profile_last = now;
}}

size_t {n}_profile(uint64_t *ns, size_t n) {{
    for (size_t i = 0; i < n && i < {p}_PROFILE_STEPS; i++)
        ns[i] = __atomic_load_n(&profile_ns[i], __ATOMIC_RELAXED);
    return {p}_PROFILE_STEPS;
}}

uint64_t {n}_profile_runs(void) {{ return __atomic_load_n(&profile_runs, __ATOMIC_RELAXED); }}

void {n}_profile_reset(void) {{
    for (size_t i = 0; i < {p}_PROFILE_STEPS; i++)
        __atomic_store_n(&profile_ns[i], 0, __ATOMIC_RELAXED);
    __atomic_store_n(&profile_runs, 0, __ATOMIC_RELAXED);
}}

const char *{n}_profile_steps(void) {{ return profile_steps; }}
",
        lines = c_string_literal(&lines),
    )
}

/// The linker version script: the ABI's three functions are global (and a profiling build's
/// four profile functions; its `NAME_profile_mark` stays local), everything else local.
pub fn version_script(iface: &Interface) -> String {
    let n = &iface.prefix;
    let profile = if iface.profile.is_some() {
        format!("    {n}_profile;\n    {n}_profile_runs;\n    {n}_profile_reset;\n    {n}_profile_steps;\n")
    } else {
        String::new()
    };
    format!("{{\n  global:\n    {n}_scratch_size;\n    {n}_run;\n    {n}_model_json;\n    {n}_scratch_size_threads;\n    {n}_run_threads;\n    {n}_run_parallel;\n{profile}  local:\n    *;\n}};\n")
}

/// The C compilers to try, in order: `$CC` (split at whitespace, so `CC="ccache gcc"` works),
/// then `cc`.
fn compilers() -> Vec<(OsString, Vec<OsString>, bool)> {
    let mut list = vec![];
    if let Some(cc) = std::env::var_os("CC") {
        let s = cc.to_string_lossy().into_owned();
        let mut words = s.split_whitespace().map(OsString::from);
        if let Some(prog) = words.next() {
            list.push((prog, words.collect(), true));
        }
    }
    list.push((OsString::from("cc"), vec![], false));
    list
}

/// Links `object` (the code generator's output, defining `NAME_run_impl`) with the shim into
/// the shared library `output`, and writes the header beside it (`<stem>.h`). Both are written
/// through temporary files: on any failure neither is left behind or half-written.
pub fn link(iface: &Interface, object: &[u8], output: &Path) -> Result<()> {
    iface.validate()?;
    let file_name = output.file_name().and_then(|f| f.to_str()).ok_or_else(|| {
        Error::msg(format!(
            "{} does not name a file (the library needs a UTF-8 file name)",
            output.display()
        ))
    })?;
    let dir = tempfile::Builder::new()
        .prefix("qcc-link-")
        .tempdir()
        .map_err(|e| {
            Error::msg(format!(
                "cannot create a temporary directory to link in: {e}"
            ))
        })?;
    let header = header::render(iface);
    for (name, bytes) in [
        (HEADER_H, header.as_bytes()),
        (SHIM_C, shim_source(iface).as_bytes()),
        (EXPORTS_MAP, version_script(iface).as_bytes()),
        (OBJECT_O, object),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).at(&path)?;
    }
    let args: Vec<String> = [
        "-shared",
        "-O2",
        "-fPIC",
        // The soname is the file's own name, so programs linked against it find it by name.
        &format!("-Wl,-soname,{file_name}"),
        &format!("-Wl,--version-script={EXPORTS_MAP}"),
        "-Wl,-z,noexecstack",
        // An undefined symbol (a `NAME_run_impl` the object lacks) is a link error now, not a
        // failure at the first call.
        "-Wl,-z,defs",
        "-o",
        LIBRARY_SO,
        SHIM_C,
        OBJECT_O,
        // Cranelift may call libm (`fmaf`, `nearbyintf`, … where the target lacks the
        // instruction); recorded as a dependency only when used.
        "-Wl,--as-needed",
        "-lm",
        "-pthread",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut tried = vec![];
    let mut ran = None;
    for (prog, pre, from_env) in compilers() {
        let shown = std::iter::once(prog.to_string_lossy().into_owned())
            .chain(pre.iter().map(|a| a.to_string_lossy().into_owned()))
            .collect::<Vec<_>>()
            .join(" ");
        match Command::new(&prog)
            .args(&pre)
            .args(&args)
            .current_dir(dir.path())
            .output()
        {
            Ok(out) => {
                ran = Some((shown, out));
                break;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => tried.push(if from_env {
                format!("`{shown}` from $CC")
            } else {
                format!("`{shown}`")
            }),
            Err(e) => {
                return Err(Error::msg(format!(
                    "cannot run the C compiler `{shown}` to link {}: {e}",
                    output.display()
                )))
            }
        }
    }
    let Some((cc, out)) = ran else {
        return Err(Error::msg(format!(
            "no C compiler found (tried {}): qcc links model.so with the system C compiler; install gcc or clang (Debian/Ubuntu: apt install gcc; Fedora: dnf install gcc), or set CC to one",
            tried.join(", ")
        )));
    };
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(Error::msg(format!(
            "linking {} failed: `{cc} {}` exited with {}:\n{}",
            output.display(),
            args.join(" "),
            out.status,
            stderr.trim_end()
        )));
    }
    let lib_path = dir.path().join(LIBRARY_SO);
    write_contents_atomic(&[
        (output, Contents::CopyOf(&lib_path)),
        (&header_path(output), Contents::Bytes(header.as_bytes())),
    ])
}
