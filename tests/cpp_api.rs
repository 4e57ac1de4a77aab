//! The C++ binding's suite: compiles each `tests/cpp/*.cpp` program against
//! `bindings/cpp/cfutures.hpp`, `include/cfutures.h` and the `libcfutures.so` cargo built for
//! this test run, and runs it as its own process, one `#[test]` per program
//! (`cargo nextest run --test cpp_api test_wait` runs one). `proc_pool` (the process pool) runs
//! once per start method, with its tasks in `libcpptasks.so` (built from
//! `tests/cpp/cpp_tasks.cpp`: spawn loads tasks from shared libraries) and `CF_WORKER_PATH` set
//! to the `cf-worker` of this build. Further tests compile the header alone as C++17 and C++20
//! (`-Wall -Wextra -Wpedantic -Werror` and more), every program as C++20, and build and run
//! `examples/cpp/*.cpp` on both pools.
//!
//! Each program runs under a watchdog, as the leader of a new process group: if it has not
//! exited after 120 s its thread stacks are dumped with gdb (when installed), its group is
//! killed and the test fails; once it has exited, no process of its group (a worker, the fork
//! server) may be alive 2 s later. A failure prints the program's stdout and stderr.
//!
//! Environment knobs (all optional):
//! - `CXX`: the C++ compiler (default `g++`; may hold arguments, e.g. `ccache g++`).
//! - `CXXTEST_CXXFLAGS`: extra compiler flags, e.g. `-fsanitize=address,undefined`.
//! - `CFTEST_WRAPPER`: a command the programs run under, e.g. `valgrind -q --error-exitcode=9`.
//! - `CFTEST_WATCHDOG_SECS`: the watchdog (default 120).

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

mod common;
use common::{
    collected, compile_ok, drain, dump_stacks, fail_hung, link_cfutures, program_command, report,
    watch, watchdog_limit, words,
};

/// How long a program's descendants may take to go once it has exited.
const ORPHAN_GRACE: Duration = Duration::from_secs(2);

/// The warnings every test program and example is compiled with (fixed).
const WARNINGS: &[&str] = &["-Wall", "-Wextra", "-Wpedantic", "-Werror"];

/// More warnings, for the header alone: a user's strict build must not trip on it.
const STRICT: &[&str] = &[
    "-Wshadow",
    "-Wconversion",
    "-Wsign-conversion",
    "-Wold-style-cast",
    "-Wzero-as-null-pointer-constant",
    "-Wnon-virtual-dtor",
    "-Wcast-qual",
    "-Wundef",
];

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// This test process's scratch directory (one per process: nextest runs each test in its own
/// process, and other cargo runs may share the target directory).
fn out_dir() -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("cpp-tests")
        .join(std::process::id().to_string());
    std::fs::create_dir_all(&d).expect("create the binaries' directory");
    d
}

/// Runs the C++ compiler with `std` and the fixed warnings, the include directories, then
/// `args`; panics with its output on failure.
fn cxx(std: &str, args: &[String], what: &str) {
    let mut cxx = words("CXX");
    if cxx.is_empty() {
        cxx.push("g++".into());
    }
    let mut cmd = Command::new(&cxx[0]);
    cmd.args(&cxx[1..])
        .arg(format!("-std={std}"))
        .args(WARNINGS)
        .arg("-pthread")
        .arg(format!("-I{}", repo().join("include").display()))
        .arg(format!(
            "-I{}",
            repo().join("bindings").join("cpp").display()
        ))
        .args(words("CXXTEST_CXXFLAGS"))
        .args(args);
    compile_ok(&mut cmd, what);
}

/// `libcpptasks.so`, built once per test process; returns its directory.
fn task_lib() -> &'static PathBuf {
    static LIB: OnceLock<PathBuf> = OnceLock::new();
    LIB.get_or_init(|| {
        let dir = out_dir().join("lib");
        std::fs::create_dir_all(&dir).expect("create the library directory");
        let src = repo().join("tests").join("cpp").join("cpp_tasks.cpp");
        let mut args = vec![
            "-O1".into(),
            "-g".into(),
            "-shared".into(),
            "-fPIC".into(),
            src.display().to_string(),
            "-o".into(),
            dir.join("libcpptasks.so").display().to_string(),
        ];
        args.extend(link_cfutures());
        cxx("c++17", &args, "libcpptasks.so");
        dir
    })
}

/// Compiles `tests/cpp/<name>.cpp` (C++17) into a fresh binary, linked with libcpptasks.so when
/// `tasks`, and returns its path.
fn compile(name: &str, tasks: bool) -> PathBuf {
    let src = repo().join("tests").join("cpp").join(format!("{name}.cpp"));
    assert!(src.exists(), "{} is missing", src.display());
    let exe = out_dir().join(name);
    let mut args = vec![
        "-O1".into(),
        "-g".into(),
        format!("-I{}", repo().join("tests").join("cpp").display()),
        src.display().to_string(),
        "-o".into(),
        exe.display().to_string(),
    ];
    if tasks {
        let dir = task_lib();
        args.push(format!("-L{}", dir.display()));
        args.push("-lcpptasks".into());
        args.push(format!("-Wl,-rpath,{}", dir.display()));
    }
    args.extend(link_cfutures());
    cxx("c++17", &args, &src.display().to_string());
    exe
}

/// Live processes of process group `pgid` other than its leader.
fn group_members(pgid: i32) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut live = Vec::new();
    for pid in rd.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok()) {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some(close) = stat.rfind(')') else {
            continue;
        };
        let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        let (Some(state), Some(pgrp)) = (fields.first(), fields.get(2)) else {
            continue;
        };
        if pid != pgid && pgrp.parse() == Ok(pgid) && *state != "Z" && *state != "X" {
            live.push(format!("{pid} {}", &stat[..=close]));
        }
    }
    live
}

/// What a finished program did.
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

/// Runs `exe` (with `args`, and `env` added) under the watchdog as the leader of a new process
/// group; panics if it hangs or leaves processes behind.
fn run(name: &str, exe: &Path, args: &[&str], env: &[(&str, String)]) -> Run {
    let mut cmd = program_command(exe);
    let limit = watchdog_limit();
    // The program's own alarm() watchdog goes off after ours, so that ours gets the stacks.
    cmd.args(args)
        .env("CFTEST_ALARM", (limit.as_secs() + 30).to_string())
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", exe.display()));
    let pgid = child.id() as i32;
    let out = drain(child.stdout.take().expect("piped stdout"));
    let err = drain(child.stderr.take().expect("piped stderr"));
    let (status, hung) = watch(&mut child, name, limit, |child| {
        let stacks = dump_stacks(child.id());
        // SAFETY: killing the process group the program leads.
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
        let _ = child.kill();
        stacks
    });
    // Leftovers: a live process of the program's group (a worker, the fork server) could also
    // hold the output pipes open, so look before collecting the output.
    let grace = Instant::now() + ORPHAN_GRACE;
    let mut left = group_members(pgid);
    while !left.is_empty() && Instant::now() < grace {
        std::thread::sleep(Duration::from_millis(10));
        left = group_members(pgid);
    }
    if !left.is_empty() {
        // SAFETY: killing what is left of the program's process group.
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
    }
    let r = Run {
        status,
        stdout: collected(out),
        stderr: collected(err),
    };
    if let Some(stacks) = hung {
        fail_hung(name, limit, &stacks, &r.report(name));
    }
    assert!(
        left.is_empty(),
        "{name}: processes outlived the program by {} s: {left:?}\n{}",
        ORPHAN_GRACE.as_secs(),
        r.report(name)
    );
    r
}

/// Compiles and runs `tests/cpp/<program>.cpp` with `args`; asserts exit status 0 and its
/// "all checks passed" line.
fn run_ok(program: &str, args: &[&str]) -> Run {
    let tasks = program.starts_with("proc_");
    let exe = compile(program, tasks);
    let name = std::iter::once(program)
        .chain(args.iter().copied())
        .collect::<Vec<_>>()
        .join(" ");
    let scratch = out_dir().join(format!("scratch-{}", args.join("-")));
    std::fs::create_dir_all(&scratch).expect("create the scratch directory");
    let r = run(
        &name,
        &exe,
        args,
        &[
            ("CF_WORKER_PATH", env!("CARGO_BIN_EXE_cf-worker").to_owned()),
            ("CPPTEST_DIR", scratch.display().to_string()),
        ],
    );
    let _ = std::fs::remove_dir_all(&scratch);
    let _ = std::fs::remove_file(&exe);
    assert!(r.status.success(), "{name} failed\n{}", r.report(&name));
    assert!(
        r.stdout.contains("all checks passed"),
        "{name} exited 0 without passing its checks\n{}",
        r.report(&name)
    );
    r
}

macro_rules! cpp_tests {
    ($($name:ident),* $(,)?) => {
        /// Every C++ program that has a `#[test]` here (`proc_pool` has its own, below).
        const CPP_TESTS: &[&str] = &[$(stringify!($name),)* "proc_pool"];
        $(
            #[test]
            fn $name() {
                run_ok(stringify!($name), &[]);
            }
        )*
    };
}

cpp_tests!(test_future, test_executor, test_wait, test_raii);

/// The process pool, once per start method.
mod proc_pool {
    #[test]
    fn forkserver() {
        super::run_ok("proc_pool", &["forkserver"]);
    }
    #[test]
    fn fork() {
        super::run_ok("proc_pool", &["fork"]);
    }
    #[test]
    fn spawn() {
        super::run_ok("proc_pool", &["spawn"]);
    }
}

/// Every `tests/cpp/*.cpp` (but the task library) has its `#[test]`: a new program cannot be
/// silently skipped.
#[test]
fn every_cpp_program_has_a_test() {
    let dir = repo().join("tests").join("cpp");
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("read tests/cpp") {
        let name = entry.expect("dir entry").file_name();
        let name = name.to_string_lossy();
        if let Some(stem) = name.strip_suffix(".cpp") {
            if stem != "cpp_tasks" && !CPP_TESTS.contains(&stem) {
                missing.push(stem.to_owned());
            }
        }
    }
    assert!(
        missing.is_empty(),
        "add these to cpp_tests! in tests/cpp_api.rs: {missing:?}"
    );
}

/// Compiles a translation unit that includes the header twice and nothing else, with the
/// fixed warnings and the strict ones.
fn header_alone(std: &str) {
    let tu = out_dir().join(format!("header_alone_{std}.cpp"));
    std::fs::write(
        &tu,
        "#include \"cfutures.hpp\"\n#include \"cfutures.hpp\"\nint main() { return 0; }\n",
    )
    .expect("write the translation unit");
    let mut args: Vec<String> = STRICT.iter().map(|s| s.to_string()).collect();
    args.extend(["-fsyntax-only".into(), tu.display().to_string()]);
    cxx(
        std,
        &args,
        &format!("bindings/cpp/cfutures.hpp alone as {std}"),
    );
    let _ = std::fs::remove_file(&tu);
}

#[test]
fn header_alone_cxx17() {
    header_alone("c++17");
}

#[test]
fn header_alone_cxx20() {
    header_alone("c++20");
}

/// Every test program (which instantiates every template of the header) also compiles as
/// C++20.
#[test]
fn programs_compile_as_cxx20() {
    let dir = repo().join("tests").join("cpp");
    let mut args = vec!["-fsyntax-only".to_owned(), format!("-I{}", dir.display())];
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("read tests/cpp") {
        let path = entry.expect("dir entry").path();
        if path.extension().is_some_and(|e| e == "cpp") {
            args.push(path.display().to_string());
            n += 1;
        }
    }
    assert!(n > 0, "no programs in tests/cpp");
    cxx("c++20", &args, "tests/cpp/*.cpp as C++20");
}

/// `examples/cpp/*.cpp` build (C++17, with -Wpedantic, as mk/cpp.mk builds them) and run on
/// both pools, printing the gcds of the six pairs.
#[test]
fn examples_cpp() {
    let dir = repo().join("examples").join("cpp");
    let mut srcs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("read examples/cpp")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "cpp"))
        .collect();
    srcs.sort();
    assert!(!srcs.is_empty(), "no examples in examples/cpp");
    for src in &srcs {
        let stem = src.file_stem().expect("a file name").to_string_lossy();
        for pool in ["CF_THREAD_POOL", "CF_PROCESS_POOL"] {
            let exe = out_dir().join(format!("example-{stem}-{pool}"));
            let mut args = vec![
                "-O1".to_owned(),
                format!("-DPOOL={pool}"),
                src.display().to_string(),
                "-o".into(),
                exe.display().to_string(),
            ];
            args.extend(link_cfutures());
            cxx("c++17", &args, &src.display().to_string());
            let name = format!("examples/cpp/{stem}.cpp on {pool}");
            let r = run(&name, &exe, &[], &[]);
            let _ = std::fs::remove_file(&exe);
            assert!(r.status.success(), "{name} failed\n{}", r.report(&name));
            // The results (not the timings, nor what finished first, which vary).
            let want = match stem.as_ref() {
                "map" | "submit_result" => vec!["[1, 5, 1, 5, 2, 3]"],
                "as_completed" => vec![
                    "futures[3]: False True   gcd(1551645, 2229620) = 5",
                    "futures[5]: False True   gcd(2198964, 7876293) = 3",
                ],
                "wait" => vec![
                    "return_when=ALL_COMPLETED",
                    "return_when=FIRST_COMPLETED",
                    "done:     {",
                ],
                _ => vec![],
            };
            for w in want {
                assert!(
                    r.stdout.contains(w),
                    "{name}: no {w:?}\n{}",
                    r.report(&name)
                );
            }
        }
    }
}
