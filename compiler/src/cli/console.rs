//! Printing to the terminal without panicking: `std`'s `println!` panics when stdout is a pipe
//! whose reader has gone (`qcc check m.ir | head -1`), which would also stop a build before it
//! writes its `-o` file. These macros drop what cannot be shown instead: stdout and stderr are
//! reports about the work, never the work itself, which only ever goes to files.

/// `println!` that ignores a closed or failing stdout.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// `print!` that ignores a closed or failing stdout.
macro_rules! say_raw {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// `eprintln!` that ignores a closed or failing stderr.
macro_rules! tell {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}

/// `eprint!` that ignores a closed or failing stderr.
macro_rules! tell_raw {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stderr().lock(), $($arg)*);
    }};
}

pub(crate) use {say, say_raw, tell, tell_raw};
