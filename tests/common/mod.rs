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

/// The command that runs a test program: `exe` itself, or under `CFTEST_WRAPPER` (e.g.
/// `valgrind -q --error-exitcode=9`) when that is set.
pub fn program_command(exe: &std::path::Path) -> Command {
    let mut wrapper = words("CFTEST_WRAPPER");
    if wrapper.is_empty() {
        Command::new(exe)
    } else {
        let mut c = Command::new(wrapper.remove(0));
        c.args(wrapper).arg(exe);
        c
    }
}

/// How long a test program may run before the watchdog fires (CFTEST_WATCHDOG_SECS, else
/// DEFAULT_WATCHDOG_SECS).
pub fn watchdog_limit() -> std::time::Duration {
    std::time::Duration::from_secs(
        std::env::var("CFTEST_WATCHDOG_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(DEFAULT_WATCHDOG_SECS),
    )
}

/// A finished program's exit status and output, for a failure message.
pub fn report(name: &str, status: &std::process::ExitStatus, stdout: &str, stderr: &str) -> String {
    format!("{name}: {status}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}")
}

/// Waits for `child` until `limit` passes; then `on_hang` (which dumps stacks and kills; its
/// text is returned) and waits for the killed program. Returns the exit status and, if the
/// watchdog fired, `on_hang`'s text.
pub fn watch(
    child: &mut std::process::Child,
    name: &str,
    limit: std::time::Duration,
    on_hang: impl FnOnce(&mut std::process::Child) -> String,
) -> (std::process::ExitStatus, Option<String>) {
    let deadline = std::time::Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return (status, None),
            Ok(None) if std::time::Instant::now() >= deadline => {
                let stacks = on_hang(child);
                let status = child.wait().expect("wait for the killed program");
                return (status, Some(stacks));
            }
            Ok(None) => std::thread::sleep(std::time::Duration::from_millis(10)),
            Err(e) => panic!("waiting for {name}: {e}"),
        }
    }
}

/// The text a drained output pipe gave.
pub fn collected(h: JoinHandle<Vec<u8>>) -> String {
    String::from_utf8_lossy(&h.join().unwrap_or_default()).into_owned()
}

/// The linker words for the libcfutures.so cargo built for this run (and libdl, which the
/// tests that load libraries or interpose functions need on older glibc). DT_RPATH rather
/// than DT_RUNPATH: it wins over the LD_LIBRARY_PATH that cargo sets for tests, so a program
/// loads exactly this library.
pub fn link_cfutures() -> Vec<String> {
    let lib = lib_dir();
    vec![
        format!("-L{}", lib.display()),
        "-lcfutures".into(),
        "-ldl".into(),
        "-Wl,--disable-new-dtags".into(),
        format!("-Wl,-rpath,{}", lib.display()),
    ]
}

/// Runs a compiler command; panics with its output if it cannot run or fails.
pub fn compile_ok(cmd: &mut Command, what: &str) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run the compiler for {what} ({cmd:?}): {e}"));
    assert!(
        out.status.success(),
        "compiling {what} failed ({}):\n{:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        cmd,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Fails the test for a program the watchdog killed, with its thread stacks and output.
pub fn fail_hung(name: &str, limit: std::time::Duration, stacks: &str, report: &str) -> ! {
    panic!(
        "{name} did not finish within {} s: killed\n--- thread stacks ---\n{stacks}\n{report}",
        limit.as_secs()
    )
}
