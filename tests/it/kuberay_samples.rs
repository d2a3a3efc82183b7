//! KubeRay's own samples that use its security fields (`authOptions`, `enableK8sTokenAuth`,
//! `secretName`, `networkPolicy`, `enableIngress`), as `raydar scan -f` reads them: each
//! with the rules it must and must not raise, and its grade. The files are KubeRay v1.7's
//! (`tests/fixtures/kuberay-samples/README.md`).

use raydar::manifest::ManifestSet;
use raydar::posture::{evaluate, Grade, PostureConfig};
use std::collections::BTreeSet;

struct Expect {
    file: &'static str,
    grade: Grade,
    raised: &'static [&'static str],
    not_raised: &'static [&'static str],
}

const SAMPLES: [Expect; 7] = [
    // DenyAll: the operator's policies select the head and the workers, and admit only the
    // cluster's own pods; no token auth: one wall.
    Expect {
        file: "ray-cluster.network-policy-deny-all.yaml",
        grade: Grade::C,
        raised: &["RAY-AUTH-001"],
        not_raised: &["RAY-NET-001", "RAY-NET-002", "RAY-NET-003", "RAY-NET-004"],
    },
    // Kubernetes-RBAC-delegated auth on Ray 2.57: authenticated, no NetworkPolicy.
    Expect {
        file: "ray-cluster.kubernetes.auth.yaml",
        grade: Grade::C,
        raised: &["RAY-NET-001"],
        not_raised: &["RAY-AUTH-001", "RAY-VER-001"],
    },
    Expect {
        file: "ray-cluster.kubernetes.auth-manual.yaml",
        grade: Grade::C,
        raised: &["RAY-NET-001"],
        not_raised: &["RAY-AUTH-001"],
    },
    // Token auth on Ray 2.52: authenticated, but the version has advisories fixed since.
    Expect {
        file: "ray-cluster.auth.yaml",
        grade: Grade::C,
        raised: &["RAY-NET-001", "RAY-VER-001"],
        not_raised: &["RAY-AUTH-001"],
    },
    Expect {
        file: "ray-cluster.auth.secret-ref.yaml",
        grade: Grade::C,
        raised: &["RAY-NET-001"],
        not_raised: &["RAY-AUTH-001"],
    },
    Expect {
        file: "ray-cluster.auth-manual.yaml",
        grade: Grade::C,
        raised: &["RAY-NET-001"],
        not_raised: &["RAY-AUTH-001"],
    },
    // enableIngress with a NodePort head Service and no auth: open to the internet.
    Expect {
        file: "ray-cluster.separate-ingress.yaml",
        grade: Grade::F,
        raised: &["RAY-EXP-004", "RAY-EXP-001", "RAY-AUTH-001", "RAY-SVC-001"],
        not_raised: &[],
    },
];

/// The grade and its reason for every entry of the demo and of these samples: what an on-call
/// engineer reads first, pinned word for word.
#[test]
fn grade_reasons() {
    use std::fmt::Write;
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/kuberay-samples");
    let mut out = String::new();
    for x in SAMPLES {
        let set = ManifestSet::load(&[dir.join(x.file)]).unwrap();
        for e in evaluate(&set.inventory, &PostureConfig::default()) {
            let g = e.grade.map_or("?", Grade::as_str);
            let _ = writeln!(out, "{}: {g} {}", x.file, e.grade_reason);
        }
    }
    // The demo's objects as a live cluster holds them.
    let mut inv = raydar::inventory::Inventory { live: true, ..Default::default() };
    for o in raydar::demo::manifests() {
        let ns = o["metadata"]["namespace"].as_str().unwrap_or("").to_string();
        let _ = inv.add_value(o, &ns);
    }
    for e in evaluate(&inv, &PostureConfig::demo()) {
        let g = e.grade.map_or("?", Grade::as_str);
        let _ = writeln!(out, "demo {}/{}: {g} {}", e.namespace, e.name, e.grade_reason);
    }
    insta::assert_snapshot!("grade_reasons", out);
}

#[test]
fn kuberay_samples_raise_their_rules_and_grade_by_attack_path() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/kuberay-samples");
    let mut files: BTreeSet<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    for x in SAMPLES {
        assert!(files.remove(x.file), "{}: no such fixture", x.file);
        let set = ManifestSet::load(&[dir.join(x.file)]).unwrap();
        assert!(set.errors.is_empty(), "{}: {:?}", x.file, set.errors);
        let entries = evaluate(&set.inventory, &PostureConfig::default());
        assert_eq!(entries.len(), 1, "{}", x.file);
        let e = &entries[0];
        let ids: BTreeSet<&str> = e.findings.iter().map(|f| f.rule.id).collect();
        for r in x.raised {
            assert!(ids.contains(r), "{}: {r} expected, got {ids:?}", x.file);
        }
        for r in x.not_raised {
            assert!(!ids.contains(r), "{}: {r} raised: {:?}", x.file, e.findings);
        }
        assert_eq!(e.grade, Some(x.grade), "{}: {}", x.file, e.grade_reason);
    }
    assert!(files.is_empty(), "fixtures without expectations: {files:?}");
}
