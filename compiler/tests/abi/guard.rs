//! The guard-page harness: stand-in libraries run with every buffer against a `PROT_NONE` page
//! give what an ordinary run gives, and the harness does catch a stray access (a child process
//! that reads or writes one float outside a buffer dies of SIGSEGV).

use super::support::{child_case, in_child, x_values, Standin, NZ};
use ndarray::{ArrayD, IxDyn};
use runtime::guard::{run_guarded, Flush, GuardedBuffer};
use runtime::{Library, Tensor};
use std::os::unix::process::ExitStatusExt;

fn inputs() -> Vec<Tensor> {
    vec![
        Tensor::F32(ArrayD::from_shape_vec(IxDyn(&[1, 2, 3]), x_values(3.0)).expect("shape")),
        Tensor::F32(ArrayD::from_shape_vec(IxDyn(&[2, 3]), vec![1.5; NZ]).expect("shape")),
    ]
}

#[test]
fn guarded_runs_match_ordinary_runs() {
    let dir = tempfile::tempdir().expect("dir");
    let model = Library::load(Standin::new("pair").two().build(dir.path(), "pair")).expect("loads");
    let want = model.run(&inputs()).expect("runs");
    for flush in [Flush::Start, Flush::End] {
        assert_eq!(
            run_guarded(&model, &inputs(), flush).expect("runs"),
            want,
            "{flush:?}"
        );
    }
}

#[test]
fn buffers_touch_their_guards() {
    for len in [0usize, 4, 64, 100, 4096, 5000] {
        let start = GuardedBuffer::new(len, 64, Flush::Start).expect("mapped");
        assert_eq!(start.slack_after(), len.div_ceil(4096) * 4096 - len);
        let end = GuardedBuffer::new(len, 4, Flush::End).expect("mapped");
        assert_eq!(end.slack_after(), 0, "len {len}");
    }
    // A scratch whose size is not a multiple of 64 cannot end flush: the start is aligned.
    assert_eq!(
        GuardedBuffer::new(100, 64, Flush::End)
            .expect("mapped")
            .slack_after(),
        28
    );
}

/// (case, standin.c OVERRUN, which end is guarded)
const OVERRUNS: &[(&str, u8, Flush)] = &[
    ("control", 0, Flush::End),
    ("read-past-input", 1, Flush::End),
    ("read-before-input", 2, Flush::Start),
    ("write-past-scratch", 3, Flush::End),
];

#[test]
fn guard_pages_catch_overruns() {
    if let Some(case) = child_case() {
        let &(_, overrun, flush) = OVERRUNS.iter().find(|c| c.0 == case).expect("a known case");
        let dir = tempfile::tempdir().expect("dir");
        let mut s = Standin::new("bad").two();
        s.overrun = overrun;
        let model = Library::load(s.build(dir.path(), "bad")).expect("loads");
        run_guarded(&model, &inputs(), flush).expect("runs");
        println!("survived");
        return;
    }
    for &(case, overrun, _) in OVERRUNS {
        let out = in_child("abi::guard::guard_pages_catch_overruns", case, &[]);
        if overrun == 0 {
            assert!(
                out.status.success() && String::from_utf8_lossy(&out.stdout).contains("survived"),
                "{case}: {:?}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        } else {
            assert_eq!(
                out.status.signal(),
                Some(libc_sigsegv()),
                "{case}: the stray access went unnoticed ({:?})",
                out.status
            );
        }
    }
}

/// SIGSEGV on Linux and the BSDs.
fn libc_sigsegv() -> i32 {
    11
}
