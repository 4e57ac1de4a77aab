//! Build script: the spawn-mode worker program must export the `cf_*` functions, because the
//! task libraries it loads call them (`cf_out_set`, ...) and resolve them from the program.
fn main() {
    println!("cargo:rustc-link-arg-bin=cf-worker=-Wl,--export-dynamic");
    println!("cargo:rerun-if-changed=build.rs");
}
