//! The process-pool C suite: compiles `tests/c/proc_tasks.c` into `libproctasks.so` (the
//! task functions: they must live in a shared library for the spawn start method), compiles
//! each `tests/c/proc_*.c` test program against it and `libcfutures.so`, and runs each program
//! once per start method (`forkserver`, `fork`, `spawn`, passed as argv[1]), one `#[test]` per
//! (program, method) pair so nextest runs them in parallel
//! (`cargo test --test process_api proc_crash` runs one program's three).
//!
//! Around every program the runner checks what a program cannot check about itself:
//! - O1: a watchdog (120 s): on expiry the program's thread stacks are dumped with gdb, its
//!   whole process group is killed and the test fails;
//! - O4: the runner is a child subreaper (`PR_SET_CHILD_SUBREAPER`) and starts the program as
//!   the leader of a new process group; once the program has exited, no process of that group
//!   (workers, the fork server, a task's grandchild...) may still be alive after 2 s. Orphans
//!   reparented to the runner are reaped; leftovers are killed and the test fails.
//! - per-program output checks (e.g. FK06: stdout holds the unflushed marker exactly once;
//!   SD09: the program was SIGKILLed and every pid it printed is gone within 2 s).
//!
//! Inside a program each scenario runs in a forked child (see `pt_run` in tests/c/proctest.h),
//! so one failing scenario does not hide the others; the program fails if any did, and its
//! stderr names them (`SCENARIO <name> FAILED`).
//!
//! Under `cargo test` (all tests in one process) a program's descendants are told apart by
//! their process group; under nextest (one test per process) every other child of the runner
//! counts as a leftover too.
//!
//! Environment knobs, as for tests/c_api.rs: `CC`, `CFTEST_CFLAGS`, `CFTEST_WRAPPER`,
//! `CFTEST_WATCHDOG_SECS`; plus `PROCTEST_ONLY=<scenario>[,<scenario>...]` to run only some
//! scenarios of each program (the others then pass trivially). The program gets
//! `CF_WORKER_PATH` (the cf-worker built for this run), `PROCTEST_DIR` (a fresh directory for
//! its FIFOs and marker files) and `PROCTEST_LATE_LIB` (a second copy of the task library,
//! built with `-DPT_LIB_TAG=2`, that the program loads with dlopen only after creating its
//! executor).

use std::collections::HashSet;

use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::OnceLock;

use std::time::{Duration, Instant};

mod common;
use common::{
    collected, compile_ok, drain, dump_stacks, fail_hung, link_cfutures, program_command, report,
    watch, watchdog_limit, words,
};

/// How long descendants may take to go once the program has exited (O4).
const ORPHAN_GRACE: Duration = Duration::from_secs(2);

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// This test process's scratch directory (one per process: other cargo runs, and nextest's
/// other test processes, share the target directory).
fn out_dir() -> PathBuf {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("proc-tests");
    let d = root.join(std::process::id().to_string());
    static CLEAN: OnceLock<()> = OnceLock::new();
    CLEAN.get_or_init(|| remove_stale(&root));
    std::fs::create_dir_all(&d).expect("create the binaries' directory");
    d
}

/// Removes the directories of earlier test processes that are gone.
fn remove_stale(root: &Path) {
    let Ok(rd) = std::fs::read_dir(root) else {
        return;
    };
    for e in rd.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        // SAFETY: kill with signal 0 only checks whether the process exists.
        let gone = unsafe { libc::kill(pid, 0) } == -1
            && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
        if gone {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// Runs the C compiler with the suite's flags plus `args`; panics with its output on failure.
fn cc(args: &[String], what: &str) {
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
        .arg(format!("-I{}", repo().join("include").display()))
        .arg(format!("-I{}", repo().join("tests").join("c").display()))
        .args(words("CFTEST_CFLAGS"))
        .args(args)
        .args(link_cfutures());
    compile_ok(&mut cmd, what);
}

/// The task libraries, built once per test process: `libproctasks.so` (linked into every
/// program) and `late/libproctasks_late.so` (the same source with `-DPT_LIB_TAG=2`, loaded
/// with dlopen by the programs).
struct TaskLibs {
    dir: PathBuf,
    late: PathBuf,
}

fn task_libs() -> &'static TaskLibs {
    static LIBS: OnceLock<TaskLibs> = OnceLock::new();
    LIBS.get_or_init(|| {
        let src = repo().join("tests").join("c").join("proc_tasks.c");
        let dir = out_dir().join("lib");
        let late_dir = dir.join("late");
        std::fs::create_dir_all(&late_dir).expect("create the library directory");
        let lib = dir.join("libproctasks.so");
        cc(
            &[
                "-shared".into(),
                "-fPIC".into(),
                src.display().to_string(),
                "-o".into(),
                lib.display().to_string(),
            ],
            "libproctasks.so",
        );
        let late = late_dir.join("libproctasks_late.so");
        cc(
            &[
                "-shared".into(),
                "-fPIC".into(),
                "-DPT_LIB_TAG=2".into(),
                src.display().to_string(),
                "-o".into(),
                late.display().to_string(),
            ],
            "libproctasks_late.so",
        );
        TaskLibs { dir, late }
    })
}

/// Compiles `tests/c/<name>.c` against libproctasks.so into `<name>-<tag>`.
fn compile(name: &str, tag: &str) -> PathBuf {
    let src = repo().join("tests").join("c").join(format!("{name}.c"));
    assert!(src.exists(), "{} is missing", src.display());
    let libs = task_libs();
    let exe = out_dir().join(format!("{name}-{tag}"));
    cc(
        &[
            src.display().to_string(),
            "-o".into(),
            exe.display().to_string(),
            format!("-L{}", libs.dir.display()),
            "-lproctasks".into(),
            "-ldl".into(),
            format!("-Wl,-rpath,{}", libs.dir.display()),
        ],
        &src.display().to_string(),
    );
    exe
}

/// Thread stacks of every live process of a hung program's group (the program, its scenario
/// children, their workers), at most 8 of them, program first.
fn dump_group_stacks(pgid: i32) -> String {
    let mut procs: Vec<Proc> = all_procs()
        .into_iter()
        .filter(|p| p.pgrp == pgid && !is_dead(p))
        .collect();
    procs.sort_by_key(|p| p.pid);
    procs
        .iter()
        .take(8)
        .map(|p| {
            format!(
                "=== pid {} ({}), parent {} ===\n{}",
                p.pid,
                p.comm,
                p.ppid,
                dump_stacks(p.pid as u32)
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// One line of `/proc/<pid>/stat`, the fields we need.
#[derive(Clone, Debug)]
struct Proc {
    pid: i32,
    comm: String,
    state: char,
    ppid: i32,
    pgrp: i32,
}

fn read_proc(pid: i32) -> Option<Proc> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let open = s.find('(')?;
    let close = s.rfind(')')?;
    let comm = s[open + 1..close].to_owned();
    let mut rest = s[close + 1..].split_whitespace();
    let state = rest.next()?.chars().next()?;
    let ppid = rest.next()?.parse().ok()?;
    let pgrp = rest.next()?.parse().ok()?;
    Some(Proc {
        pid,
        comm,
        state,
        ppid,
        pgrp,
    })
}

fn all_procs() -> Vec<Proc> {
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    rd.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(read_proc)
        .collect()
}

fn is_dead(p: &Proc) -> bool {
    p.state == 'Z' || p.state == 'X'
}

/// Reaps `pid` if it is a zombie child of ours.
fn reap(pid: i32) {
    let mut status = 0;
    // SAFETY: waitpid on a specific pid with WNOHANG; it only collects that child.
    unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
}

/// Makes this process a child subreaper (once): orphaned descendants of the programs are
/// reparented to it instead of init, so they can be seen and reaped.
fn become_subreaper() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        // SAFETY: prctl with an integer argument; affects only this process.
        let r = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1 as libc::c_ulong, 0, 0, 0) };
        assert_eq!(
            r,
            0,
            "prctl(PR_SET_CHILD_SUBREAPER): {}",
            std::io::Error::last_os_error()
        );
    });
}

/// The program's descendants still around: processes of its process group (the program was
/// its leader), and, when nextest runs this test alone in its process, every other child of
/// ours. Zombies reparented to us are reaped on the way; the result lists live ones only.
fn leftovers(pgid: i32) -> Vec<Proc> {
    // SAFETY: getpid has no preconditions.
    let me = unsafe { libc::getpid() };
    let alone = std::env::var_os("NEXTEST").is_some();
    let mut live = Vec::new();
    for p in all_procs() {
        let ours = p.pgrp == pgid || (alone && p.ppid == me);
        if !ours || p.pid == pgid {
            continue;
        }
        if is_dead(&p) {
            if p.ppid == me {
                reap(p.pid);
            }
            continue;
        }
        live.push(p);
    }
    live
}

/// O4: waits up to 2 s for the program's descendants to go; kills and reports what stays.
fn check_no_orphans(name: &str, pgid: i32) -> Result<(), String> {
    let deadline = Instant::now() + ORPHAN_GRACE;
    loop {
        let left = leftovers(pgid);
        if left.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            for p in &left {
                // SAFETY: killing a leftover descendant of the program under test.
                unsafe { libc::kill(p.pid, libc::SIGKILL) };
            }
            // SAFETY: killing whatever is left in the program's process group.
            unsafe { libc::kill(-pgid, libc::SIGKILL) };
            std::thread::sleep(Duration::from_millis(50));
            let _ = leftovers(pgid); // reap what we killed
            let list: Vec<String> = left
                .iter()
                .map(|p| format!("{} ({}) state {} ppid {}", p.pid, p.comm, p.state, p.ppid))
                .collect();
            return Err(format!(
                "{name}: {} process(es) outlived the program by {} s (O4): {}",
                left.len(),
                ORPHAN_GRACE.as_secs(),
                list.join("; ")
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// What a finished C program did.
struct Run {
    status: ExitStatus,
    stdout: String,
    stderr: String,
    orphans: Result<(), String>,
}

impl Run {
    fn report(&self, name: &str) -> String {
        report(name, &self.status, &self.stdout, &self.stderr)
    }
}

/// Runs the compiled program (with `args`, and `env` added) under the watchdog as the leader
/// of a new process group; then checks O4 before collecting its output (a leftover process
/// could hold the output pipes open).
fn run(name: &str, exe: &Path, args: &[&str], env: &[(&str, String)]) -> Run {
    become_subreaper();
    let mut cmd = program_command(exe);
    let limit = watchdog_limit();
    cmd.args(args)
        // The program's own alarm() watchdog goes off after ours, so that ours gets the stacks.
        .env("CFTEST_ALARM", (limit.as_secs() + 30).to_string())
        .env("CF_WORKER_PATH", env!("CARGO_BIN_EXE_cf-worker"))
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
        let stacks = dump_group_stacks(pgid);
        // SAFETY: killing the process group the program leads.
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
        let _ = child.kill();
        stacks
    });
    let orphans = check_no_orphans(name, pgid);
    let r = Run {
        status,
        stdout: collected(out),
        stderr: collected(err),
        orphans,
    };
    if let Some(stacks) = hung {
        fail_hung(name, limit, &stacks, &r.report(name));
    }
    r
}

/// Compiles `tests/c/<program>.c` and runs it with argv[1] = `method` (and `extra` args);
/// asserts O4 and returns the run. `scratch` is the program's PROCTEST_DIR, removed after.
fn run_program(program: &str, method: &str, extra: &[&str]) -> (Run, String) {
    let tag = std::iter::once(method)
        .chain(extra.iter().copied())
        .collect::<Vec<_>>()
        .join("-");
    let name = format!("{program} {}", tag.replace('-', " "));
    let exe = compile(program, &tag);
    let scratch =
        std::env::temp_dir().join(format!("cfproc-{}-{program}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).expect("create the scratch directory");
    let mut args = vec![method];
    args.extend_from_slice(extra);
    let late = task_libs().late.display().to_string();
    let r = run(
        &name,
        &exe,
        &args,
        &[
            ("PROCTEST_DIR", scratch.display().to_string()),
            ("PROCTEST_LATE_LIB", late),
        ],
    );
    let listing = std::fs::read_dir(&scratch)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    let _ = std::fs::remove_dir_all(&scratch);
    let _ = std::fs::remove_file(&exe);
    if let Err(e) = &r.orphans {
        panic!("{e}\n{}", r.report(&name));
    }
    (r, listing)
}

/// Runs a program that must exit 0 after printing its "all checks passed" line.
fn run_ok(program: &str, method: &str, extra: &[&str]) -> (Run, String) {
    let (r, listing) = run_program(program, method, extra);
    let name = format!("{program} {method} {}", extra.join(" "));
    assert!(r.status.success(), "{name} failed\n{}", r.report(&name));
    assert!(
        r.stdout.contains("all checks passed"),
        "{name} exited 0 without passing its checks\n{}",
        r.report(&name)
    );
    (r, listing)
}

macro_rules! per_method {
    ($program:ident) => {
        mod $program {
            #[test]
            fn forkserver() {
                super::run_ok(stringify!($program), "forkserver", &[]);
            }
            #[test]
            fn fork() {
                super::run_ok(stringify!($program), "fork", &[]);
            }
            #[test]
            fn spawn() {
                super::run_ok(stringify!($program), "spawn", &[]);
            }
        }
    };
}

per_method!(proc_semantics);
per_method!(proc_crash);
per_method!(proc_limits);
per_method!(proc_resolve);
// Load, size and respawn rows (CR07, CR12, LD02-LD05, LD08, SD14, FK02, FK03): scaled down by
// default; `CFUTURES_BIG_TESTS=1` runs the catalogue's sizes (see tests/c/proc_load.c).
per_method!(proc_load);

/// proc_faults: the fault rows not covered elsewhere (see tests/c/proc_faults.c and the
/// "Process pool rows" index in docs/reliability.md), then SD10's `exit(0)` variant, which
/// ends the process.
mod proc_faults {
    use super::*;

    fn main(method: &str) {
        run_ok("proc_faults", method, &[]);
    }

    /// SD10 (`exit(0)` variant): tasks running and six more queued, no shutdown and no free,
    /// then `exit(0)`: the exit-time shutdown waits for the queued tasks (their marker files
    /// exist) and no process lingers (O4, checked by `run`).
    fn sd10exit(method: &str) {
        let (r, listing) = run_ok("proc_faults", method, &["sd10exit"]);
        let want: usize = r
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix("SD10 markers "))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("no SD10 marker count\n{}", r.report("sd10exit")));
        let got = listing
            .split_whitespace()
            .filter(|f| f.starts_with("sd10exit-"))
            .count();
        assert_eq!(
            got,
            want,
            "SD10: {got} of {want} tasks queued before exit(0) ran; files: {listing}\n{}",
            r.report("proc_faults sd10exit")
        );
    }

    macro_rules! scen {
        ($scen:ident) => {
            mod $scen {
                #[test]
                fn forkserver() {
                    super::$scen("forkserver");
                }
                #[test]
                fn fork() {
                    super::$scen("fork");
                }
                #[test]
                fn spawn() {
                    super::$scen("spawn");
                }
            }
        };
    }

    scen!(main);
    scen!(sd10exit);
}

/// proc_lifecycle: its default scenarios (SD07 futures held elsewhere, FK04 worker fds), then
/// the scenarios that end the process (each a test of its own, per method).
mod proc_lifecycle {
    use super::*;

    fn main(method: &str) {
        run_ok("proc_lifecycle", method, &[]);
    }

    /// FK06 (and CR04's stdout half): `printf` of a marker without a newline before the pool
    /// starts; tasks, one of which calls `exit(0)` in its worker; then the program exits. The
    /// marker is in stdout exactly once: workers never flush the parent's buffer again.
    fn fk06(method: &str) {
        let (r, _) = run_ok("proc_lifecycle", method, &["fk06"]);
        let n = r.stdout.matches("FK06-MARK|").count();
        assert_eq!(
            n,
            1,
            "FK06: the unflushed marker appears {n} times in stdout\n{}",
            r.report("proc_lifecycle fk06")
        );
    }

    /// SD03: `shutdown(wait=false)` with tasks running, then `main` returns without freeing
    /// the executor: the process exits (no hang), the queued tasks ran (their marker files
    /// exist) and no worker lingers (O4, checked by `run`).
    fn sd03(method: &str) {
        let (r, listing) = run_ok("proc_lifecycle", method, &["sd03"]);
        let want: usize = r
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix("SD03 markers "))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("no SD03 marker count\n{}", r.report("sd03")));
        let got = listing
            .split_whitespace()
            .filter(|f| f.starts_with("sd03-"))
            .count();
        assert_eq!(
            got,
            want,
            "SD03: {got} of {want} tasks queued before main returned ran; files: {listing}\n{}",
            r.report("proc_lifecycle sd03")
        );
    }

    /// SD10: `_exit(0)` with tasks running and no shutdown: the workers (and the fork server)
    /// notice that the parent is gone and exit (O4, checked by `run`).
    fn sd10(method: &str) {
        run_ok("proc_lifecycle", method, &["sd10"]);
    }

    /// SD09: the program starts busy tasks, prints the pids of its descendants (workers and
    /// fork server), then SIGKILLs itself. Every printed pid must be gone within 2 s (O4).
    fn sd09(method: &str) {
        let (r, _) = run_program("proc_lifecycle", method, &["sd09"]);
        let name = format!("proc_lifecycle {method} sd09");
        assert_eq!(
            r.status.signal(),
            Some(libc::SIGKILL),
            "SD09: the program should have killed itself with SIGKILL\n{}",
            r.report(&name)
        );
        let pids: HashSet<i32> = r
            .stdout
            .lines()
            .filter_map(|l| l.strip_prefix("SD09 pid "))
            .filter_map(|p| p.split_whitespace().next()?.parse().ok())
            .collect();
        assert!(
            !pids.is_empty(),
            "SD09: the program printed no pid\n{}",
            r.report(&name)
        );
        assert!(
            r.stdout.contains("SD09 killing myself"),
            "SD09: the program did not get as far as killing itself\n{}",
            r.report(&name)
        );
        // `run` has already waited (up to 2 s) for the whole process group to go; check the
        // printed pids one by one as well (a pid that left the group would escape that).
        let alive: Vec<Proc> = pids
            .iter()
            .filter_map(|&p| read_proc(p))
            .filter(|p| !is_dead(p))
            .collect();
        for p in &alive {
            // SAFETY: killing a leftover process of the program under test.
            unsafe { libc::kill(p.pid, libc::SIGKILL) };
        }
        assert!(
            alive.is_empty(),
            "SD09: still alive 2 s after the parent was SIGKILLed: {:?}\n{}",
            alive
                .iter()
                .map(|p| (p.pid, p.comm.as_str(), p.state))
                .collect::<Vec<_>>(),
            r.report(&name)
        );
    }

    macro_rules! scen {
        ($scen:ident) => {
            mod $scen {
                #[test]
                fn forkserver() {
                    super::$scen("forkserver");
                }
                #[test]
                fn fork() {
                    super::$scen("fork");
                }
                #[test]
                fn spawn() {
                    super::$scen("spawn");
                }
            }
        };
    }

    scen!(main);
    scen!(fk06);
    scen!(sd03);
    scen!(sd09);
    scen!(sd10);
}

/// Every `tests/c/proc_*.c` test program has its tests here: a new one cannot be skipped.
#[test]
fn every_proc_program_has_a_test() {
    const PROGRAMS: &[&str] = &[
        "proc_semantics",
        "proc_crash",
        "proc_limits",
        "proc_resolve",
        "proc_lifecycle",
        "proc_faults",
        "proc_load",
    ];
    let dir = repo().join("tests").join("c");
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("read tests/c") {
        let name = entry.expect("dir entry").file_name();
        let name = name.to_string_lossy();
        if let Some(stem) = name.strip_suffix(".c") {
            if stem.starts_with("proc_") && stem != "proc_tasks" && !PROGRAMS.contains(&stem) {
                missing.push(stem.to_owned());
            }
        }
    }
    assert!(
        missing.is_empty(),
        "add these to tests/process_api.rs: {missing:?}"
    );
}
