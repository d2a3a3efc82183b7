//! Tells the test binary what this machine has, so that a test that cannot run here is
//! reported by the test runner as ignored, with the reason — never as a silent pass:
//! `cfg(envtest)` (kube-apiserver and etcd through `KUBEBUILDER_ASSETS`, or the repository's
//! `../shared/k8s/assets`), `cfg(shared)` (`../shared`: the KubeRay CRDs and the kubectl
//! conformance script), `cfg(kubectl)` and `cfg(tmux)` (on PATH).

use std::path::Path;

fn on_path(bin: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(bin).is_file()))
}

fn main() {
    println!("cargo:rerun-if-env-changed=KUBEBUILDER_ASSETS");
    println!("cargo:rerun-if-env-changed=PATH");
    println!("cargo:rerun-if-changed=build.rs");
    for cfg in ["envtest", "shared", "kubectl", "tmux"] {
        println!("cargo:rustc-check-cfg=cfg({cfg})");
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let shared = root.join("../shared");
    let assets = std::env::var_os("KUBEBUILDER_ASSETS").filter(|a| !a.is_empty()).map(|a| {
        Path::new(&a).join("kube-apiserver").is_file() && Path::new(&a).join("etcd").is_file()
    });
    let envtest = assets.unwrap_or_else(|| shared.join("k8s/assets").is_file());
    let have = [
        ("envtest", envtest),
        ("shared", shared.join("kuberay/crds").is_dir() && shared.join("tools").is_dir()),
        ("kubectl", on_path("kubectl")),
        ("tmux", on_path("tmux")),
    ];
    for (cfg, yes) in have {
        if yes {
            println!("cargo:rustc-cfg={cfg}");
        }
    }
}
