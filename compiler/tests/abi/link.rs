//! `backend::link`: what it generates (header, shim, JSON, version script) as snapshots, the
//! library it links (deterministic, exporting only the ABI), and every way it refuses.

use super::support::{check, child_case, in_child, Standin};
use qcc::backend::header;
use qcc::backend::link::{link, shim_source, version_script};

fn sample() -> Standin {
    Standin::new("mnist").two().features(&["sse4.1", "avx2"])
}

#[test]
fn generated_sources() {
    let iface = sample().interface();
    check("header", &header::render(&iface));
    check("shim", &shim_source(&iface));
    check("model_json", &iface.model_json());
    check("version_script", &version_script(&iface));
}

/// A profiling build's interface: two steps, as the backend describes them.
fn profiled() -> Standin {
    let mut s = sample();
    s.profile = true;
    s
}

/// What `--profile` adds: the step list, the mark the generated entry calls, the four exported
/// readers and their declarations.
#[test]
fn generated_profile_sources() {
    let iface = profiled().interface();
    check("profile_header", &header::render(&iface));
    check("profile_shim", &shim_source(&iface));
    check("profile_version_script", &version_script(&iface));
    // The JSON does not change: a profiling build runs the same model.
    assert_eq!(iface.model_json(), sample().interface().model_json());
}

/// A profiling build links (its shim is C the compiler accepts, with every warning on) and
/// exports the profile; its mark stays local.
#[test]
fn profiling_build_exports_the_profile() {
    use object::{Object, ObjectSymbol};
    let dir = tempfile::tempdir().expect("dir");
    let iface = profiled().interface();
    let shim = dir.path().join("shim.c");
    std::fs::write(&shim, shim_source(&iface)).expect("written");
    std::fs::write(dir.path().join("qcc_model.h"), header::render(&iface)).expect("written");
    super::support::cc(
        dir.path(),
        &[
            "-c".into(),
            "-std=c11".into(),
            "-Wall".into(),
            "-Wextra".into(),
            "-Werror".into(),
            "-fPIC".into(),
            "shim.c".into(),
            "-o".into(),
            "shim.o".into(),
        ],
    );
    let so = profiled().build(dir.path(), "model");
    let bytes = std::fs::read(&so).expect("written");
    let file = object::File::parse(&*bytes).expect("an ELF file");
    let mut defined: Vec<String> = file
        .dynamic_symbols()
        .filter(|s| s.is_definition())
        .map(|s| s.name().expect("a name").to_string())
        .collect();
    defined.sort();
    assert_eq!(
        defined,
        [
            "mnist_model_json",
            "mnist_profile",
            "mnist_profile_reset",
            "mnist_profile_runs",
            "mnist_profile_steps",
            "mnist_run",
            "mnist_run_parallel",
            "mnist_run_threads",
            "mnist_scratch_size",
            "mnist_scratch_size_threads"
        ]
    );
}

/// A step description with a tab in it would break the one-line-per-step format.
#[test]
fn refuses_profile_steps_with_tabs() {
    let mut iface = profiled().interface();
    if let Some(steps) = &mut iface.profile {
        steps[0].name = "a\tb".into();
    }
    let dir = tempfile::tempdir().expect("dir");
    let obj = profiled().object(dir.path());
    let err = link(&iface, &obj, &dir.path().join("m.so"))
        .expect_err("a tab in a step")
        .to_string();
    assert!(err.contains("has a tab or newline"), "{err}");
}

#[test]
fn names_are_escaped_in_comments_and_strings() {
    let mut iface = sample().interface();
    iface.model_name = "evil */ \"name\"?\n".into();
    iface.inputs[0].name = "x*/y".into();
    let text = format!(
        "{}\n---\n{}",
        header::render(&iface)
            .lines()
            .take(3)
            .collect::<Vec<_>>()
            .join("\n"),
        shim_source(&iface)
            .lines()
            .find(|l| l.starts_with("static const char model_json"))
            .expect("the JSON constant")
    );
    check("escaped_names", &text);
    // And the compiler agrees that it is all still C.
    let dir = tempfile::tempdir().expect("dir");
    let s = Standin::new("evil");
    let mut iface = s.interface();
    iface.model_name = "evil */ \"name\"?\n".into();
    link(&iface, &s.object(dir.path()), &dir.path().join("evil.so")).expect("links");
}

#[test]
fn two_links_are_byte_identical() {
    let a = tempfile::tempdir().expect("dir");
    let b = tempfile::tempdir().expect("dir");
    let s = sample();
    let pa = s.build(a.path(), "model");
    let pb = s.build(b.path(), "model");
    let read = |p: &std::path::Path| std::fs::read(p).expect("written");
    assert!(read(&pa) == read(&pb), "the two libraries differ");
    assert_eq!(read(&pa.with_extension("h")), read(&pb.with_extension("h")));
    assert_eq!(
        read(&pa.with_extension("h")),
        header::render(&s.interface()).into_bytes()
    );
}

/// The dynamic symbol table holds the three ABI functions and nothing else of ours.
#[test]
fn exports_only_the_abi() {
    use object::{Object, ObjectSymbol};
    let dir = tempfile::tempdir().expect("dir");
    let so = sample().build(dir.path(), "model");
    let bytes = std::fs::read(&so).expect("written");
    let file = object::File::parse(&*bytes).expect("an ELF file");
    let mut defined: Vec<String> = file
        .dynamic_symbols()
        .filter(|s| s.is_definition())
        .map(|s| s.name().expect("a name").to_string())
        .collect();
    defined.sort();
    assert_eq!(
        defined,
        [
            "mnist_model_json",
            "mnist_run",
            "mnist_run_parallel",
            "mnist_run_threads",
            "mnist_scratch_size",
            "mnist_scratch_size_threads"
        ]
    );
}

#[test]
fn refuses_bad_interfaces() {
    let dir = tempfile::tempdir().expect("dir");
    let s = Standin::new("qcc");
    let obj = s.object(dir.path());
    let mut cases = vec![];
    for (what, edit) in [
        (
            "prefix 1abc",
            (|i: &mut qcc::backend::interface::Interface| i.prefix = "1abc".into()) as fn(&mut _),
        ),
        ("prefix with a dash", |i| i.prefix = "my-model".into()),
        ("reserved prefix", |i| i.prefix = "__m".into()),
        ("unknown feature", |i| {
            i.features = vec!["avx2".into(), "avx1024".into()]
        }),
        ("no outputs", |i| i.outputs.clear()),
    ] {
        let mut iface = s.interface();
        edit(&mut iface);
        let err = link(&iface, &obj, &dir.path().join("m.so")).expect_err(what);
        cases.push(format!("{what}:\n{err}"));
    }
    check("refused_interfaces", &cases.join("\n\n"));
    assert_no_outputs(dir.path());
}

/// Only the stand-in's own files (sources and objects) may be in `dir`.
fn assert_no_outputs(dir: &std::path::Path) {
    let mut left: Vec<String> = std::fs::read_dir(dir)
        .expect("listed")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with("-standin.o"))
        .collect();
    left.sort();
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// An object without `NAME_run_impl`: the linker's complaint comes back, and no file is left.
#[test]
fn link_failure_shows_the_linker_and_leaves_nothing() {
    let dir = tempfile::tempdir().expect("dir");
    let obj = Standin::new("other").object(dir.path());
    let mut iface = Standin::new("qcc").interface();
    iface.model_name = "standin".into();
    let err = link(&iface, &obj, &dir.path().join("m.so"))
        .expect_err("qcc_run_impl is undefined")
        .to_string();
    assert!(
        err.contains("undefined reference to `qcc_run_impl'") || err.contains("qcc_run_impl"),
        "{err}"
    );
    assert!(err.starts_with("error: linking "), "{err}");
    assert_no_outputs(dir.path());
    // A directory that does not exist: refused after linking, nothing written anywhere.
    let s = Standin::new("qcc");
    let err = link(
        &s.interface(),
        &s.object(dir.path()),
        &dir.path().join("missing/m.so"),
    )
    .expect_err("no such directory")
    .to_string();
    assert!(err.contains("does not exist"), "{err}");
    assert_no_outputs(dir.path());
}

/// No C compiler: `$CC` points nowhere and PATH holds no `cc`. Runs in a child process, since
/// the environment is the whole process's.
#[test]
fn no_c_compiler() {
    if child_case().as_deref() == Some("no-cc") {
        let dir = tempfile::tempdir().expect("dir");
        // The object comes from the parent: this process cannot compile.
        let obj = std::fs::read(std::env::var("QCC_ABI_OBJECT").expect("set")).expect("read");
        let err = link(
            &Standin::new("qcc").interface(),
            &obj,
            &dir.path().join("m.so"),
        )
        .expect_err("no compiler");
        println!("<<{err}>>");
        assert_no_outputs(dir.path());
        return;
    }
    let dir = tempfile::tempdir().expect("dir");
    let obj = dir.path().join("qcc.o");
    std::fs::write(&obj, Standin::new("qcc").object(dir.path())).expect("written");
    let empty = dir.path().join("empty-bin");
    std::fs::create_dir(&empty).expect("made");
    let out = in_child(
        "abi::link::no_c_compiler",
        "no-cc",
        &[
            ("CC", "/nonexistent/cc"),
            ("PATH", empty.to_str().expect("utf-8")),
            ("QCC_ABI_OBJECT", obj.to_str().expect("utf-8")),
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let msg = stdout
        .split("<<")
        .nth(1)
        .and_then(|s| s.split(">>").next())
        .expect("the child printed the error");
    check("no_c_compiler", msg);
}
