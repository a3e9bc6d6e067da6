//! Links `cafectl` at a fixed address, as kubectl and the other Kubernetes
//! binaries are linked, instead of as a position-independent executable:
//! otherwise the dynamic loader rewrites some 28,000 pointers in the
//! executable at every start, about a tenth of what a whole `render`
//! takes. The libraries, stack and heap are still placed at random.

fn main() {
    println!("cargo:rerun-if-changed=src/build.rs");
    if std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux") {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
