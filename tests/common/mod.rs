//! Helpers shared by the C test runners (tests/c_api.rs, tests/process_api.rs): where the
//! library is, compiler words, output draining and gdb stack dumps for the watchdogs.
#![allow(dead_code)]

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::thread::JoinHandle;

/// Seconds a C program may run before its watchdog fires (override: CFTEST_WATCHDOG_SECS).
pub const DEFAULT_WATCHDOG_SECS: u64 = 120;

/// Where cargo put `libcfutures.so` for this run: the directory of this test binary.
pub fn lib_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let dir = exe
        .parent()
        .expect("test binary has a directory")
        .to_path_buf();
    let lib = dir.join("libcfutures.so");
    assert!(
        lib.exists(),
        "{} not found: cargo should build the cdylib next to the test binary",
        lib.display()
    );
    dir
}

/// The whitespace-separated words of environment variable `var` (none if unset).
pub fn words(var: &str) -> Vec<String> {
    std::env::var(var)
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

/// Reads `r` to the end on a thread (a child's stdout or stderr).
pub fn drain(mut r: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        buf
    })
}

/// Whether gdb is installed (for the watchdogs' stack dumps).
pub fn have_gdb() -> bool {
    Command::new("gdb")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Thread stacks of a hung process, from gdb.
pub fn dump_stacks(pid: u32) -> String {
    if !have_gdb() {
        return "(gdb not found: no stack dump)".into();
    }
    match Command::new("gdb")
        .args(["-batch", "-nx", "-ex", "thread apply all bt", "-p"])
        .arg(pid.to_string())
        .stdin(Stdio::null())
        .output()
    {
        Ok(o) => format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => format!("(gdb failed to run: {e})"),
    }
}
