//! `--report-html`: the page made for the digits CNN (calibrated on its test images), its
//! structure snapshotted with the stage times redacted, its bytes the same on a second run, and
//! the page rendered by a real browser: headless Chromium (Debian's `chromium`, which
//! `scripts/test.sh` installs) must draw something that is not blank, and the DOM it built must
//! hold every section and no script.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Compiles the digits CNN to its integer IR with `--report-html` into `dir`; returns the page.
fn make_page(dir: &Path) -> String {
    std::fs::create_dir_all(dir).unwrap();
    let digits = root().join("examples/digits");
    let html = dir.join("digits.html");
    let run = Command::new(env!("CARGO_BIN_EXE_qcc"))
        .arg(digits.join("digits.onnx"))
        .arg("-o")
        .arg(dir.join("digits.int.ir"))
        .args(["--emit", "int", "--target", "x86-64-v3", "--calib"])
        .arg(digits.join("test_images.npy"))
        .arg("--report-html")
        .arg(&html)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    // --report-html measures the per-layer SQNR but only --report prints its table.
    assert!(
        !String::from_utf8_lossy(&run.stderr).contains("SQNR"),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    std::fs::read_to_string(&html).unwrap()
}

/// The page of the first run, made once for every test here.
fn page() -> &'static (PathBuf, String) {
    static PAGE: OnceLock<(PathBuf, String)> = OnceLock::new();
    PAGE.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report_html");
        let text = make_page(&dir);
        (dir.join("digits.html"), text)
    })
}

/// The page with every time (the lines marked `class="time"`) replaced by `#`.
fn redact_times(page: &str) -> String {
    page.lines()
        .map(|l| {
            if l.contains("class=\"time\"") {
                l.chars()
                    .map(|c| if c.is_ascii_digit() { '#' } else { c })
                    .collect::<String>()
                    .replace("#.#", "#")
                    .replace("##", "#")
                    .replace("##", "#")
                    .replace("##", "#")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The page's structure: the text outside the charts as it is, each inline SVG as its opening
/// tag, its first title and how many elements of each kind it draws.
fn structure(page: &str) -> String {
    let mut out = String::new();
    let mut rest = page;
    while let Some(start) = rest.find("<svg") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find("</svg>").expect("every svg is closed") + start;
        let body = &rest[start..end];
        let open = &body[..body.find('>').unwrap() + 1];
        let count = |tag: &str| body.matches(&format!("<{tag} ")).count();
        // Its title says what it draws (a histogram's names the tensor and both ranges).
        let title = body
            .find("<title>")
            .and_then(|t| body[t..].find("</title>").map(|e| &body[t..t + e + 8]))
            .unwrap_or("");
        out.push_str(&format!(
            "{open}{title} … {} rect, {} path, {} line, {} text, {} g</svg>",
            count("rect"),
            count("path"),
            count("line"),
            count("text"),
            count("g")
        ));
        rest = &rest[end + "</svg>".len()..];
    }
    out.push_str(rest);
    out
}

#[test]
fn page_structure_and_determinism() {
    let (_, text) = page();
    for section in ["times", "graph", "sqnr", "rules", "ranges"] {
        assert!(
            text.contains(&format!("<section id=\"{section}\">")),
            "no {section}"
        );
    }
    // Self-contained: no script, nothing fetched.
    assert!(!text.contains("<script"));
    assert!(!text.contains("src="));
    assert!(!text.contains("href=\"http"));
    assert!(!text.contains("url("));
    // A rule that fired says where: the BatchNorms folded into the convs are named.
    assert!(text.contains("<td class=\"where\">%"), "no rule location");
    // Every observed tensor has a histogram with its chosen range.
    assert!(text.matches("class=\"plot hist\"").count() >= 5);
    // A second compile writes the same page, times aside.
    let again = make_page(&Path::new(env!("CARGO_TARGET_TMPDIR")).join("report_html_again"));
    assert_eq!(redact_times(text), redact_times(&again));
    insta::with_settings!({ prepend_module_to_snapshot => false }, {
        insta::assert_snapshot!("report_html_digits", structure(&redact_times(text)));
    });
}

/// The browser: `QCC_CHROMIUM`, or Debian's `chromium`.
fn chromium() -> PathBuf {
    if let Some(p) = std::env::var_os("QCC_CHROMIUM") {
        return PathBuf::from(p);
    }
    for p in ["/usr/bin/chromium", "/usr/bin/chromium-browser"] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    panic!(
        "no chromium: scripts/test.sh installs it (apt-get install chromium), or set QCC_CHROMIUM"
    );
}

/// Runs headless Chromium on the page with `args`, within a minute; returns its stdout and
/// stderr.
fn run_chromium(profile: &Path, args: &[String]) -> (String, String) {
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-extensions",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("chromium starts");
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("chromium did not finish within 90 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The console errors a page caused, in Chromium's log.
fn page_errors(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| l.contains("Uncaught") || (l.contains("CONSOLE") && l.contains("ERROR")))
        .collect()
}

#[test]
fn chromium_renders_the_page() {
    let (path, _) = page();
    let work = tempfile::tempdir().unwrap();
    let url = format!("file://{}", path.canonicalize().unwrap().display());
    let shot = work.path().join("page.png");
    let (_, log) = run_chromium(
        &work.path().join("profile"),
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1200,2000".into(),
            "--hide-scrollbars".into(),
            url.clone(),
        ],
    );
    assert!(page_errors(&log).is_empty(), "{log}");
    // The screenshot is not blank: many pixels are not the background, in many colours.
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&shot).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let px = info.color_type.samples();
    assert!(px >= 3, "{:?}", info.color_type);
    let pixels: Vec<&[u8]> = buf[..info.buffer_size()]
        .chunks(px)
        .map(|p| &p[..3])
        .collect();
    let background = pixels[0];
    let other = pixels.iter().filter(|&&p| p != background).count();
    let colours: std::collections::BTreeSet<&[u8]> = pixels.iter().copied().collect();
    assert!(
        other * 20 > pixels.len(),
        "only {other} of {} pixels differ from the background",
        pixels.len()
    );
    assert!(colours.len() > 50, "{} colours", colours.len());
    // The DOM Chromium built: every section, every chart, no script.
    let (dom, log) = run_chromium(&work.path().join("profile2"), &["--dump-dom".into(), url]);
    assert!(page_errors(&log).is_empty(), "{log}");
    for heading in [
        "Stage times",
        "Integer graph",
        "SQNR per layer",
        "Rules fired",
        "Activation ranges",
    ] {
        assert!(dom.contains(&format!("<h2>{heading}</h2>")), "no {heading}");
    }
    assert!(dom.matches("<svg").count() >= 7);
    assert!(!dom.contains("<script"));
}

#[test]
fn needs_samples_and_a_quantizing_stage() {
    let work = tempfile::tempdir().unwrap();
    let digits = root().join("examples/digits/digits.onnx");
    let html = work.path().join("r.html");
    let run = |extra: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_qcc"))
            .arg(&digits)
            .arg("-o")
            .arg(work.path().join("d.ir"))
            .args(extra)
            .arg("--report-html")
            .arg(&html)
            .output()
            .unwrap();
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let err = run(&["--emit", "int"]);
    assert!(
        err.contains("--report-html") && err.contains("--calib"),
        "{err}"
    );
    let err = run(&["--emit", "float"]);
    assert!(
        err.contains("--report-html only matters when quantizing"),
        "{err}"
    );
    // Nothing half-written is left behind.
    assert!(!html.exists());
}
