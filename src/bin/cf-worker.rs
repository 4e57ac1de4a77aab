//! The worker program of the process pool's spawn start method. Started by libcfutures with
//! its channel on descriptor 3 and the pool's slot table on 4; not meant to be run by hand.

#[cfg(not(loom))]
fn main() {
    std::process::exit(cfutures::process::start::spawned_worker_main());
}

/// The loom model build has no process pool.
#[cfg(loom)]
fn main() {}
