//! Test-only fault injection for the process pool, driven by the `CFUTURES_TEST_FAULT`
//! environment variable. It exists for the reliability tests (tests/c/proc_faults.c and
//! tests/c/proc_load.c) and is not part of the API: production code never sets it, and when it
//! is unset or empty every hook below is one relaxed atomic load that changes nothing.
//!
//! The variable is read when a process pool is created (on its manager thread, before the fork
//! server or any worker exists, so forked workers inherit what was read) and by the `cf-worker`
//! program at startup. The setting is process-wide: the latest reading applies to every pool.
//! Items are comma-separated; an unknown or malformed item is ignored:
//!
//! - `slow-manager:<N>us` or `slow-manager:<N>ms`: the manager thread of a process pool sleeps
//!   that long in every turn of its loop, after it has looked at the pool's state and before
//!   it polls (catalogue row LD02: submits and results must not depend on a prompt manager;
//!   SD02: what changes while it sleeps, waiters reading the last results, must still wake it).
//! - `fail-start:<N>`: the first `N` worker starts after the reading succeed, every later one
//!   fails with `EAGAIN`, as `fork` does at `RLIMIT_NPROC` (row CR15; the tests run as root,
//!   which that limit does not bind).
//! - `hello-version:<V>`: workers announce protocol version `V` in their hello (row PR02).

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

/// The environment variable.
pub(crate) const ENV: &str = "CFUTURES_TEST_FAULT";

/// `slow-manager`, in nanoseconds (0: off).
static SLOW_MANAGER_NS: AtomicU64 = AtomicU64::new(0);
/// `fail-start` (`u64::MAX`: off).
static FAIL_START_AFTER: AtomicU64 = AtomicU64::new(u64::MAX);
/// Worker starts since the last reading.
static STARTS: AtomicU64 = AtomicU64::new(0);
/// `hello-version` (0: off).
static HELLO_VERSION: AtomicU32 = AtomicU32::new(0);

/// What `CFUTURES_TEST_FAULT` asks for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Faults {
    slow_manager: Option<Duration>,
    fail_start_after: Option<u64>,
    hello_version: Option<u32>,
}

fn parse(spec: &str) -> Faults {
    let mut f = Faults::default();
    for item in spec.split(',').map(str::trim) {
        let Some((key, value)) = item.split_once(':') else {
            continue;
        };
        match key {
            "slow-manager" => {
                let (digits, unit) = if let Some(d) = value.strip_suffix("us") {
                    (d, Duration::from_micros(1))
                } else if let Some(d) = value.strip_suffix("ms") {
                    (d, Duration::from_millis(1))
                } else {
                    continue;
                };
                if let Ok(n) = digits.parse::<u32>() {
                    f.slow_manager = Some(unit * n).filter(|d| !d.is_zero());
                }
            }
            "fail-start" => f.fail_start_after = value.parse().ok(),
            "hello-version" => f.hello_version = value.parse().ok().filter(|&v| v != 0),
            _ => {}
        }
    }
    f
}

/// Reads `CFUTURES_TEST_FAULT` (a process pool is being created, or `cf-worker` starts).
pub(crate) fn load() {
    let f = std::env::var(ENV).map(|s| parse(&s)).unwrap_or_default();
    let ns = f.slow_manager.map_or(0, |d| d.as_nanos() as u64);
    SLOW_MANAGER_NS.store(ns, Ordering::Relaxed);
    STARTS.store(0, Ordering::Relaxed);
    FAIL_START_AFTER.store(f.fail_start_after.unwrap_or(u64::MAX), Ordering::Relaxed);
    HELLO_VERSION.store(f.hello_version.unwrap_or(0), Ordering::Relaxed);
}

/// `slow-manager`: called by the manager thread before it polls, holding no lock.
pub(crate) fn manager_turn() {
    let ns = SLOW_MANAGER_NS.load(Ordering::Relaxed);
    if ns != 0 {
        std::thread::sleep(Duration::from_nanos(ns));
    }
}

/// `fail-start`: the error a worker start must fail with, if any.
pub(crate) fn start_failure() -> Option<std::io::Error> {
    let after = FAIL_START_AFTER.load(Ordering::Relaxed);
    if after == u64::MAX {
        return None;
    }
    let n = STARTS.fetch_add(1, Ordering::Relaxed);
    (n >= after).then(|| std::io::Error::from_raw_os_error(libc::EAGAIN))
}

/// `hello-version`: the protocol version a worker announces (`real` unless overridden).
pub(crate) fn hello_version(real: u32) -> u32 {
    match HELLO_VERSION.load(Ordering::Relaxed) {
        0 => real,
        v => v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_item_and_ignores_the_rest() {
        assert_eq!(parse(""), Faults::default());
        assert_eq!(
            parse("nonsense,slow-manager:5,fail-start:x"),
            Faults::default()
        );
        assert_eq!(
            parse("slow-manager:250us, fail-start:2 ,hello-version:99,other:1"),
            Faults {
                slow_manager: Some(Duration::from_micros(250)),
                fail_start_after: Some(2),
                hello_version: Some(99),
            }
        );
        assert_eq!(
            parse("slow-manager:3ms").slow_manager,
            Some(Duration::from_millis(3))
        );
        assert_eq!(parse("slow-manager:0ms").slow_manager, None);
        assert_eq!(parse("fail-start:0").fail_start_after, Some(0));
        assert_eq!(parse("hello-version:0").hello_version, None);
    }
}
