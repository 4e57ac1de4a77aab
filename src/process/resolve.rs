//! Function pointer <-> (module path, base, symbol) through `dladdr`, and back in a worker.
//!
//! The parent describes a task function once per pool ([`describe`]); a worker turns the
//! description back into a callable pointer once and caches it ([`Loader`]). A worker forked
//! while the module was loaded uses the address as it is (checked with `dladdr`); otherwise it
//! loads the module by path with libloading and looks the symbol up.

use std::collections::HashMap;
use std::ffi::{c_int, c_void, CStr, CString};

use super::protocol::FnRef;
use crate::future::TaskFn;
use crate::Error;

/// Describes the function at `addr`: which module holds it and under which symbol.
/// `needs_symbol`: the function must be found by name in a fresh process (spawn start method),
/// so a function in the main program or without an exported symbol is refused.
pub fn describe(addr: usize, needs_symbol: bool) -> Result<FnRef, Error> {
    let info = dladdr(addr).ok_or_else(|| {
        Error::invalid(format!(
            "task function {addr:#x} is not inside any loaded module (dladdr found nothing): \
             process pool tasks must be functions of the program or of a shared library"
        ))
    })?;
    if needs_symbol {
        if in_main_program(addr) {
            return Err(Error::invalid(format!(
                "task function {addr:#x}{} is in the main program, which a spawned cf-worker \
                 cannot load: put it in a shared library, or use the forkserver or fork start \
                 method",
                info.symbol
                    .as_deref()
                    .map(|s| format!(" ({s})"))
                    .unwrap_or_default()
            )));
        }
        if info.symbol.is_none() {
            return Err(Error::invalid(format!(
                "task function {addr:#x} in {} has no exported symbol (is it static?): a \
                 spawned cf-worker finds tasks by name; make it non-static and exported, or \
                 use the forkserver or fork start method",
                info.module
            )));
        }
    }
    Ok(FnRef {
        addr: addr as u64,
        base: info.base as u64,
        module: info.module,
        symbol: info.symbol.unwrap_or_default(),
    })
}

struct DlInfo {
    module: String,
    base: usize,
    /// The symbol whose address is exactly the function's, if any.
    symbol: Option<String>,
}

fn dladdr(addr: usize) -> Option<DlInfo> {
    // SAFETY: Dl_info is plain data, valid when zeroed.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    // SAFETY: dladdr only inspects the address; `info` is a valid out-pointer.
    let ok = unsafe { libc::dladdr(addr as *const c_void, &mut info) };
    if ok == 0 || info.dli_fname.is_null() {
        return None;
    }
    // SAFETY: dli_fname is a NUL-terminated string owned by the dynamic loader.
    let module = unsafe { CStr::from_ptr(info.dli_fname) }
        .to_string_lossy()
        .into_owned();
    let symbol = if !info.dli_sname.is_null() && info.dli_saddr as usize == addr {
        // SAFETY: dli_sname is a NUL-terminated string owned by the dynamic loader.
        Some(
            unsafe { CStr::from_ptr(info.dli_sname) }
                .to_string_lossy()
                .into_owned(),
        )
    } else {
        None
    };
    Some(DlInfo {
        module,
        base: info.dli_fbase as usize,
        symbol,
    })
}

/// Whether `addr` lies in a loadable segment of the main program.
fn in_main_program(addr: usize) -> bool {
    struct Probe {
        addr: usize,
        found: bool,
        first: bool,
    }
    unsafe extern "C" fn cb(
        info: *mut libc::dl_phdr_info,
        _size: usize,
        data: *mut c_void,
    ) -> c_int {
        // SAFETY: `data` is the `Probe` passed below; `info` is valid during the callback.
        let (probe, info) = unsafe { (&mut *(data as *mut Probe), &*info) };
        if !probe.first {
            return 1;
        }
        probe.first = false; // the first object reported is the main program
        for i in 0..usize::from(info.dlpi_phnum) {
            // SAFETY: dlpi_phdr points to dlpi_phnum program headers.
            let ph = unsafe { &*info.dlpi_phdr.add(i) };
            if ph.p_type == libc::PT_LOAD {
                let start = info.dlpi_addr as usize + ph.p_vaddr as usize;
                if probe.addr >= start && probe.addr < start + ph.p_memsz as usize {
                    probe.found = true;
                }
            }
        }
        1
    }
    let mut probe = Probe {
        addr,
        found: false,
        first: true,
    };
    // SAFETY: the callback matches dl_iterate_phdr's contract and only reads `info`.
    unsafe { libc::dl_iterate_phdr(Some(cb), (&mut probe as *mut Probe).cast()) };
    probe.found
}

/// A worker's cache of resolved task functions.
#[derive(Default)]
pub struct Loader {
    fns: HashMap<u32, Entry>,
    libs: Vec<libloading::Library>,
}

enum Entry {
    /// Defined, not looked up yet.
    Described(FnRef),
    /// Looked up (once).
    Resolved(Result<TaskFn, String>),
}

impl Loader {
    /// Defines function id `fid`. The lookup waits for the first job that runs it: loading a
    /// library runs its initialisers, which may crash the worker, and that must happen inside
    /// a started job (which then fails with CF_WORKER_DIED) rather than before any job starts
    /// (where the pool would hand the jobs sent ahead to a new worker, which would crash the
    /// same way, for ever).
    pub fn define(&mut self, fid: u32, f: &FnRef) {
        self.fns.insert(fid, Entry::Described(f.clone()));
    }

    /// The function with id `fid`, looked up now if this is its first use, or the loader's
    /// error.
    pub fn get(&mut self, fid: u32) -> Result<TaskFn, String> {
        let f = match self.fns.get(&fid) {
            None => return Err(format!("function id {fid} was never defined")),
            Some(Entry::Resolved(r)) => return r.clone(),
            Some(Entry::Described(f)) => f.clone(),
        };
        let r = self.resolve(&f);
        self.fns.insert(fid, Entry::Resolved(r.clone()));
        r
    }

    /// Resolves a description to a pointer in this process.
    pub fn resolve(&mut self, f: &FnRef) -> Result<TaskFn, String> {
        // Forked while the module was loaded: the same module sits at the same base.
        if let Some(here) = dladdr(f.addr as usize) {
            if here.base as u64 == f.base && here.module == f.module {
                return Ok(to_task_fn(f.addr as usize));
            }
        }
        if f.symbol.is_empty() {
            return Err(format!(
                "cannot find task function {:#x} of {} in this worker: it has no exported \
                 symbol and the module was not loaded when the worker started",
                f.addr, f.module
            ));
        }
        // SAFETY: loading a shared library runs its initialisers; the user asked for a task
        // from this library, which the parent process has loaded as well.
        let lib = unsafe { libloading::Library::new(&f.module) }
            .map_err(|e| format!("cannot load {}: {e}", f.module))?;
        let name = CString::new(f.symbol.as_str()).map_err(|e| e.to_string())?;
        // SAFETY: the symbol is a task function following the cf_task_fn signature (it was
        // submitted as one); the library is kept loaded in `self.libs` for the worker's life.
        let sym = unsafe { lib.get::<TaskFn>(name.as_bytes_with_nul()) }
            .map_err(|e| format!("cannot find {} in {}: {e}", f.symbol, f.module))?;
        let p = *sym;
        self.libs.push(lib);
        Ok(p)
    }
}

fn to_task_fn(addr: usize) -> TaskFn {
    // SAFETY: `addr` is the address of a task function in this very process (same module at
    // the same base as in the parent, where it was submitted as a cf_task_fn).
    unsafe { std::mem::transmute::<usize, TaskFn>(addr) }
}
