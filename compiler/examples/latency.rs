//! Single-thread latency of a library qcc wrote: `cargo run --release --example latency --
//! model.so [runs]` loads it, feeds constant inputs (the kernels' work does not depend on the
//! values) and prints the median, min and max of `runs` calls after a warm-up.

use std::time::Instant;

type RunFn = unsafe extern "C" fn(*const *const f32, *const *mut f32, *mut u8) -> i32;
type SizeFn = unsafe extern "C" fn() -> usize;
type JsonFn = unsafe extern "C" fn() -> *const std::ffi::c_char;

fn elems(v: &serde_json::Value) -> Vec<usize> {
    v.as_array()
        .unwrap_or(&vec![])
        .iter()
        .map(|p| {
            p["shape"]
                .as_array()
                .map(|s| s.iter().map(|d| d.as_u64().unwrap_or(1) as usize).product())
                .unwrap_or(1)
        })
        .collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let path = args.get(1).ok_or("usage: latency model.so [runs]")?;
    let runs: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(20);
    // SAFETY: a library qcc wrote; its C ABI is the one declared in model.h.
    let lib = unsafe { libloading::Library::new(path)? };
    let (run, size, json) = unsafe {
        (
            *lib.get::<RunFn>(b"qcc_run")?,
            *lib.get::<SizeFn>(b"qcc_scratch_size")?,
            *lib.get::<JsonFn>(b"qcc_model_json")?,
        )
    };
    let meta: serde_json::Value =
        serde_json::from_str(unsafe { std::ffi::CStr::from_ptr(json()) }.to_str()?)?;
    let ins: Vec<Vec<f32>> = elems(&meta["inputs"])
        .into_iter()
        .map(|n| (0..n).map(|i| ((i * 7919) % 255) as f32 / 255.0).collect())
        .collect();
    let mut outs: Vec<Vec<f32>> = elems(&meta["outputs"])
        .into_iter()
        .map(|n| vec![0.0; n])
        .collect();
    // SAFETY: the library's own functions, no arguments.
    let bytes = unsafe { size() };
    let layout = std::alloc::Layout::from_size_align(bytes.max(64), 64)?;
    // SAFETY: non-zero size; freed below.
    let scratch = unsafe { std::alloc::alloc_zeroed(layout) };
    let ip: Vec<*const f32> = ins.iter().map(|v| v.as_ptr()).collect();
    let op: Vec<*mut f32> = outs.iter_mut().map(|v| v.as_mut_ptr()).collect();
    let mut times = Vec::with_capacity(runs);
    for i in 0..runs + 3 {
        let t = Instant::now();
        // SAFETY: buffers sized from the library's own description, scratch 64-byte aligned.
        let rc = unsafe { run(ip.as_ptr(), op.as_ptr(), scratch) };
        if rc != 0 {
            return Err(format!("qcc_run returned {rc}").into());
        }
        if i >= 3 {
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
    }
    // SAFETY: allocated above with this layout.
    unsafe { std::alloc::dealloc(scratch, layout) };
    times.sort_by(f64::total_cmp);
    println!(
        "{path}: median {:.2} ms (min {:.2}, max {:.2}, {runs} runs)",
        times[runs / 2],
        times[0],
        times[runs - 1]
    );
    Ok(())
}
