//! The generated header: fresh, self-contained, and every export behind the panic boundary.
//!
//! Regenerate after changing src/ffi: `CFUTURES_BLESS=1 cargo test --test header`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn generate() -> String {
    let config = cbindgen::Config::from_file(root().join("cbindgen.toml")).expect("cbindgen.toml");
    let bindings = cbindgen::Builder::new()
        .with_crate(root())
        .with_config(config)
        .generate()
        .expect("cbindgen failed to generate the header");
    let mut out = Vec::new();
    bindings.write(&mut out);
    String::from_utf8(out).expect("header is UTF-8")
}

#[test]
fn header_is_up_to_date() {
    let path = root().join("include/cfutures.h");
    let fresh = generate();
    if std::env::var_os("CFUTURES_BLESS").is_some() {
        std::fs::write(&path, &fresh).expect("write header");
        return;
    }
    let committed = std::fs::read_to_string(&path).expect("include/cfutures.h is missing");
    assert!(
        committed == fresh,
        "include/cfutures.h is stale: regenerate it with `CFUTURES_BLESS=1 cargo test --test header` and commit it"
    );
}

/// Every name the header declares is in cfutures' namespace (`cf_`, `CF_`, `CFUTURES_`):
/// cbindgen exports every public constant of the crate, and an internal one (`VERSION`,
/// `PENDING`) would clash with the user's own macros.
#[test]
fn header_names_are_prefixed() {
    let text = std::fs::read_to_string(root().join("include/cfutures.h")).unwrap();
    let mut bad = Vec::new();
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let name = if let Some(i) = line.find("(*") {
            // typedef int (*cf_task_fn)(...
            line[i + 2..].split(')').next().unwrap_or("")
        } else {
            match words.as_slice() {
                ["#define", name, ..] => *name,
                ["typedef" | "struct" | "enum", _, name, "{"] => *name,
                ["struct" | "enum", name, "{"] => *name,
                ["typedef", .., last] => last.trim_end_matches(';'),
                _ => continue,
            }
        };
        if !(name.starts_with("cf_") || name.starts_with("CF_") || name.starts_with("CFUTURES_")) {
            bad.push(line.to_string());
        }
    }
    assert!(
        bad.is_empty(),
        "names outside the cf_/CF_/CFUTURES_ prefixes in include/cfutures.h (exclude them in \
         cbindgen.toml or make them non-public):\n{}",
        bad.join("\n")
    );
}

#[test]
fn version_macros_match_cargo() {
    use cfutures::ffi::{CFUTURES_VERSION_MAJOR, CFUTURES_VERSION_MINOR, CFUTURES_VERSION_PATCH};
    assert_eq!(
        CFUTURES_VERSION_MAJOR.to_string(),
        env!("CARGO_PKG_VERSION_MAJOR")
    );
    assert_eq!(
        CFUTURES_VERSION_MINOR.to_string(),
        env!("CARGO_PKG_VERSION_MINOR")
    );
    assert_eq!(
        CFUTURES_VERSION_PATCH.to_string(),
        env!("CARGO_PKG_VERSION_PATCH")
    );
    // SAFETY: cf_version returns a static NUL-terminated string.
    let v = unsafe { std::ffi::CStr::from_ptr(cfutures::ffi::cf_version()) };
    assert_eq!(v.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
}

fn compile(compiler: &str, args: &[&str], source: &str, name: &str) {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("header-check");
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join(name);
    std::fs::write(&src, source).unwrap();
    let out = Command::new(compiler)
        .args(args)
        .arg("-I")
        .arg(root().join("include"))
        .arg("-fsyntax-only")
        .arg(&src)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {compiler}: {e}"));
    assert!(
        out.status.success(),
        "{compiler} {args:?} rejected the header:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

const USE_IT: &str = "int main(void) { cf_status s = CF_OK; (void)s; return cf_version() == 0; }\n";

#[test]
fn header_compiles_standalone_as_c99() {
    let strict = ["-std=c99", "-Wall", "-Wextra", "-Wpedantic", "-Werror"];
    compile(
        "cc",
        &strict,
        &format!("#include \"cfutures.h\"\n{USE_IT}"),
        "alone.c",
    );
    compile(
        "cc",
        &strict,
        &format!("#include \"cfutures.h\"\n#include \"cfutures.h\"\n{USE_IT}"),
        "twice.c",
    );
}

#[test]
fn header_compiles_as_cpp() {
    let strict = [
        "-x",
        "c++",
        "-std=c++11",
        "-Wall",
        "-Wextra",
        "-Wpedantic",
        "-Werror",
    ];
    compile(
        "c++",
        &strict,
        &format!("#include \"cfutures.h\"\n#include \"cfutures.h\"\n{USE_IT}"),
        "alone.cpp",
    );
}

/// Every exported function's body starts with the panic boundary.
#[test]
fn every_export_has_the_panic_boundary() {
    let dir = root().join("src/ffi");
    let mut exports = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("rs") {
            continue;
        }
        check_file(&path, &mut exports);
    }
    assert!(exports >= 30, "found only {exports} exported functions");
}

fn check_file(path: &Path, exports: &mut usize) {
    let text = std::fs::read_to_string(path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        if !line.starts_with("pub extern \"C\" fn ") {
            continue;
        }
        *exports += 1;
        assert!(
            i > 0 && lines[i - 1].trim() == "#[no_mangle]",
            "{}:{}: export without #[no_mangle]",
            path.display(),
            i + 1
        );
        // The signature may span lines; the body starts after the line ending in `{`.
        let open = (i..lines.len())
            .find(|&j| lines[j].trim_end().ends_with('{'))
            .expect("function body");
        let first = lines[open + 1..]
            .iter()
            .find(|l| !l.trim().is_empty())
            .unwrap();
        assert!(
            first.trim_start().starts_with("ffi_boundary! {"),
            "{}:{}: exported function body does not start with ffi_boundary!",
            path.display(),
            i + 1
        );
    }
}
