//! The C test suite: compiles each `tests/c/test_*.c` against `include/cfutures.h` and the
//! `libcfutures.so` cargo built for this test run, and runs it as its own process, one
//! `#[test]` per C file (`cargo test --test c_api test_wait` runs one).
//!
//! Each program runs under a watchdog: if it has not exited after 120 s its thread stacks are
//! dumped with gdb (when installed), it is killed and the test fails. A failure prints the
//! program's stdout and stderr.
//!
//! Environment knobs (all optional):
//! - `CC`: the C compiler (default `gcc`; may hold arguments, e.g. `ccache gcc`).
//! - `CFTEST_CFLAGS`: extra compiler flags, e.g. `-fsanitize=address,undefined`.
//! - `CFTEST_WRAPPER`: a command the program runs under, e.g. `valgrind -q --error-exitcode=9`.
//! - `CFTEST_WATCHDOG_SECS`: the watchdog (default 120).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

mod common;
use common::{
    collected, compile_ok, drain, dump_stacks, fail_hung, link_cfutures, program_command, report,
    watch, watchdog_limit, words,
};

/// Compiles `tests/c/<name>.c` into a fresh binary and returns its path.
fn compile(name: &str) -> PathBuf {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let src = repo.join("tests").join("c").join(format!("{name}.c"));
    assert!(src.exists(), "{} is missing", src.display());
    // One directory per test process: other cargo runs may share the target directory.
    let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("c-tests")
        .join(std::process::id().to_string());
    std::fs::create_dir_all(&out_dir).expect("create the binaries' directory");
    let exe = out_dir.join(name);

    let mut cc = words("CC");
    if cc.is_empty() {
        cc.push("gcc".into());
    }
    let mut cmd = Command::new(&cc[0]);
    cmd.args(&cc[1..])
        .args([
            "-std=c99",
            "-Wall",
            "-Wextra",
            "-Wpedantic",
            "-Werror",
            "-O1",
            "-g",
            "-pthread",
        ])
        .arg(format!("-I{}", repo.join("include").display()))
        .args(words("CFTEST_CFLAGS"))
        .arg(&src)
        .arg("-o")
        .arg(&exe)
        .args(link_cfutures());
    compile_ok(&mut cmd, &src.display().to_string());
    exe
}

/// What a finished C program did.
struct Run {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Run {
    fn report(&self, name: &str) -> String {
        report(name, &self.status, &self.stdout, &self.stderr)
    }
}

/// Runs the compiled program under the watchdog, with `env` added to its environment; panics
/// (with its output and a stack dump) if it hangs.
fn run(name: &str, exe: &Path, env: &[(&str, String)]) -> Run {
    let mut cmd = program_command(exe);
    let limit = watchdog_limit();
    // The program's own alarm() watchdog goes off after ours, so that ours gets the stacks.
    cmd.env("CFTEST_ALARM", (limit.as_secs() + 30).to_string())
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", exe.display()));
    let out = drain(child.stdout.take().expect("piped stdout"));
    let err = drain(child.stderr.take().expect("piped stderr"));
    let (status, hung) = watch(&mut child, name, limit, |child| {
        let stacks = dump_stacks(child.id());
        let _ = child.kill();
        stacks
    });
    let r = Run {
        status,
        stdout: collected(out),
        stderr: collected(err),
    };
    if let Some(stacks) = hung {
        fail_hung(name, limit, &stacks, &r.report(name));
    }
    r
}

/// Compiles and runs `tests/c/<name>.c` (with `env` added), asserts exit status 0, and returns
/// its output.
fn run_c_env(name: &str, env: &[(&str, String)]) -> Run {
    let exe = compile(name);
    let r = run(name, &exe, env);
    assert!(r.status.success(), "{name} failed\n{}", r.report(name));
    let _ = std::fs::remove_file(&exe);
    if let Some(dir) = exe.parent() {
        let _ = std::fs::remove_dir(dir);
    }
    r
}

fn run_c(name: &str) -> Run {
    run_c_env(name, &[])
}

macro_rules! c_tests {
    ($($name:ident),* $(,)?) => {
        /// Every C program that has a `#[test]` here (`test_exit` has its own, below).
        const C_TESTS: &[&str] = &[$(stringify!($name),)* "test_exit"];
        $(
            #[test]
            fn $name() {
                run_c(stringify!($name));
            }
        )*
    };
}

c_tests!(
    test_future,
    test_timeouts,
    test_callbacks,
    test_wait,
    test_as_completed,
    test_map,
    test_shutdown,
    test_pool,
    test_bad_input,
    test_million,
    test_cancel,
    test_signals,
    test_fork,
    test_mixed,
    test_threads,
    test_out,
);

/// Number of tasks test_exit.c queues on its first executor; keep in sync with `N_TASKS` there.
const EXIT_TASKS: usize = 200;
/// Number of tasks queued on its second (shut down without wait) executor: `N_LATE` there.
const EXIT_LATE_TASKS: usize = 50;

/// An executor never freed, with work still queued when `main` returns: the exit hook must run
/// all of it before the process ends. Each task writes `exit-task <i>` to stdout; the tasks of a
/// second executor, shut down without waiting before `main` returns, write `exit-late <i>`.
#[test]
fn test_exit() {
    // The executor is leaked on purpose: keep LeakSanitizer quiet when CFTEST_CFLAGS asks for
    // -fsanitize=address.
    let asan = match std::env::var("ASAN_OPTIONS") {
        Ok(s) if !s.is_empty() => format!("{s}:detect_leaks=0"),
        _ => "detect_leaks=0".to_owned(),
    };
    let r = run_c_env("test_exit", &[("ASAN_OPTIONS", asan)]);
    let lines: std::collections::HashSet<&str> = r.stdout.lines().collect();
    let missing: Vec<String> = (0..EXIT_TASKS)
        .map(|i| format!("exit-task {i}"))
        .chain((0..EXIT_LATE_TASKS).map(|i| format!("exit-late {i}")))
        .filter(|l| !lines.contains(l.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "tasks {missing:?} never ran before the process ended\n{}",
        r.report("test_exit")
    );
    assert!(
        r.stdout
            .contains("main: returning with 0 of 250 tasks finished"),
        "the work was not still queued when main returned\n{}",
        r.report("test_exit")
    );
    assert!(
        r.stdout.contains("exit check: 250 of 250 tasks finished"),
        "the late atexit check did not see every task finished\n{}",
        r.report("test_exit")
    );
}

/// Every `tests/c/test_*.c` has its `#[test]`: a new C file cannot be silently skipped.
#[test]
fn every_c_program_has_a_test() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("c");
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("read tests/c") {
        let name = entry.expect("dir entry").file_name();
        let name = name.to_string_lossy();
        if let Some(stem) = name.strip_suffix(".c") {
            if stem.starts_with("test_") && !C_TESTS.contains(&stem) {
                missing.push(stem.to_owned());
            }
        }
    }
    assert!(
        missing.is_empty(),
        "add these to c_tests! in tests/c_api.rs: {missing:?}"
    );
}
