//! Property: whatever the real kube-apiserver accepts, `scan -f` reads, with the same meaning,
//! and whatever it rejects, `scan -f` reports as an error — never a panic either way. The
//! embedded demo server accepts and rejects the same objects as the real one.
//!
//! Each case is a RayCluster or a Service whose fields raydar reads take one of the forms a
//! manifest may hold (null, whole-number floats, strings for numbers, every quantity form,
//! int-or-string ports, labels of the wrong type…). The real server is asked with
//! `dryRun=All`; raydar reads the same object written as JSON, a JSON stream, YAML, YAML with
//! explicit tags, or YAML with a duplicate key that the last value overrides.

use crate::envtest::{envtest, RealUser};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use raydar::manifest::ManifestSet;
use serde_json::{json, Value};

const NS: &str = "manifest-props";

/// A value drawn from `forms`, where `None` leaves the field out; the first form (a valid
/// one) is the most likely, so that about half the objects are accepted.
fn pick(forms: Vec<Option<Value>>) -> impl Strategy<Value = Option<Value>> {
    let first = forms[0].clone();
    prop_oneof![6 => Just(first), 1 => proptest::sample::select(forms)]
}

fn set(obj: &mut Value, path: &[&str], v: Option<Value>) {
    let Some(v) = v else { return };
    let mut cur = obj;
    for k in &path[..path.len() - 1] {
        cur = &mut cur[*k];
    }
    cur[path[path.len() - 1]] = v;
}

fn port_forms() -> Vec<Option<Value>> {
    vec![
        Some(json!(8265)),
        Some(json!(8265.0)),
        Some(json!(8265.5)),
        Some(json!("8265")),
        Some(json!(-1)),
        Some(json!(70000)),
        Some(Value::Null),
    ]
}

fn quantity_forms() -> Vec<Option<Value>> {
    ["1", "500m", "1.5", "2Gi", "512Mi", "1e3", "1E3", "+1", ".5", "1x", "Gi", "", "1.5.5", "1ki"]
        .into_iter()
        .map(|q| Some(json!(q)))
        .chain([Some(json!(1)), Some(json!(0.5)), Some(json!(2.0)), Some(json!(true)), None])
        .collect()
}

fn labels_forms() -> Vec<Option<Value>> {
    vec![
        None,
        Some(Value::Null),
        Some(json!({})),
        Some(json!({"team": "ml"})),
        Some(json!({"team": 1})),
        Some(json!({"team": null})),
        Some(json!(["team"])),
    ]
}

fn ray_cluster() -> impl Strategy<Value = Value> {
    (
        (
            pick(labels_forms()),
            pick(vec![None, Some(json!("2.9.0")), Some(json!("latest")), Some(Value::Null), Some(json!(2.9))]),
            pick(vec![None, Some(json!(true)), Some(json!("true")), Some(Value::Null)]),
            pick(vec![
                Some(json!({})),
                Some(Value::Null),
                Some(json!({"num-cpus": "1"})),
                Some(json!({"num-cpus": 1})),
            ]),
            pick(vec![None, Some(Value::Null), Some(json!({})), Some(json!({"labels": null}))]),
        ),
        (
            pick(port_forms()),
            pick(quantity_forms()),
            pick(vec![
                None,
                Some(Value::Null),
                Some(json!([{"name": "A", "value": "1"}])),
                Some(json!([{"name": "A", "value": 1}])),
                Some(json!([null])),
            ]),
            pick(vec![None, Some(Value::Null), Some(json!(["NET_ADMIN"])), Some(json!("NET_ADMIN"))]),
            pick(vec![
                None,
                Some(Value::Null),
                Some(json!([])),
                Some(json!([{"groupName": "w", "replicas": 1.0, "rayStartParams": null,
                    "template": {"metadata": null, "spec": {"containers": [{"name": "w", "image": "rayproject/ray:2.9.0"}]}}}])),
                Some(json!([{"groupName": "w", "replicas": "1",
                    "template": {"spec": {"containers": [{"name": "w", "image": "rayproject/ray:2.9.0"}]}}}])),
            ]),
            pick(vec![None, Some(Value::Null), Some(json!([]))]),
        ),
    )
        .prop_map(|((labels, version, autoscale, params, tmeta), (port, cpu, env, add, workers, init))| {
            let mut o = json!({"apiVersion": "ray.io/v1", "kind": "RayCluster",
                "metadata": {"name": "c", "namespace": NS},
                "spec": {"headGroupSpec": {"rayStartParams": {}, "template": {"spec": {"containers": [
                    {"name": "ray-head", "image": "rayproject/ray:2.9.0", "ports": [{"name": "dashboard", "containerPort": 8265}],
                     "resources": {"limits": {}}, "securityContext": {"capabilities": {}}}]}}}}});
            set(&mut o, &["metadata", "labels"], labels);
            set(&mut o, &["spec", "rayVersion"], version);
            set(&mut o, &["spec", "enableInTreeAutoscaling"], autoscale);
            set(&mut o, &["spec", "headGroupSpec", "rayStartParams"], params);
            set(&mut o, &["spec", "headGroupSpec", "template", "metadata"], tmeta);
            let head = o.pointer_mut("/spec/headGroupSpec/template/spec/containers/0").unwrap();
            if let Some(p) = port {
                head["ports"][0]["containerPort"] = p;
            }
            match cpu {
                Some(q) => head["resources"]["limits"]["cpu"] = q,
                None => head["resources"]["requests"] = Value::Null,
            }
            set(head, &["env"], env);
            set(head, &["securityContext", "capabilities", "add"], add);
            set(&mut o, &["spec", "workerGroupSpecs"], workers);
            set(&mut o, &["spec", "headGroupSpec", "template", "spec", "initContainers"], init);
            o
        })
}

fn service() -> impl Strategy<Value = Value> {
    (
        pick(labels_forms()),
        pick(vec![
            None,
            Some(json!("LoadBalancer")),
            Some(json!("NodePort")),
            Some(Value::Null),
            Some(json!(1)),
        ]),
        pick(vec![
            Some(json!(80)),
            Some(json!(80.0)),
            Some(json!("80")),
            Some(json!(80.5)),
            Some(json!(0)),
        ]),
        pick(vec![
            None,
            Some(Value::Null),
            Some(json!(8265)),
            Some(json!(8265.0)),
            Some(json!("dashboard")),
            Some(json!("8265")),
            Some(json!(8265.5)),
        ]),
        pick(vec![None, Some(Value::Null), Some(json!(["10.0.0.0/8"])), Some(json!("10.0.0.0/8"))]),
        pick(vec![
            None,
            Some(Value::Null),
            Some(json!({"ray.io/cluster": "c"})),
            Some(json!({"ray.io/cluster": 1})),
        ]),
    )
        .prop_map(|(labels, ty, port, target, ranges, selector)| {
            let mut o = json!({"apiVersion": "v1", "kind": "Service",
                "metadata": {"name": "s", "namespace": NS},
                "spec": {"ports": [{"name": "dashboard", "port": port}]}});
            set(&mut o, &["metadata", "labels"], labels);
            set(&mut o, &["spec", "type"], ty);
            if let Some(t) = target {
                o["spec"]["ports"][0]["targetPort"] = t;
            }
            set(&mut o, &["spec", "loadBalancerSourceRanges"], ranges);
            set(&mut o, &["spec", "selector"], selector);
            o
        })
}

/// How the object is written for raydar.
#[derive(Debug, Clone, Copy)]
enum Form {
    Json,
    /// The object between two others in one stream of JSON documents.
    JsonStream,
    Yaml,
    /// YAML whose scalars carry explicit tags (`!!int "80"`, `!!str x`, `!!bool "true"`).
    YamlTagged,
    /// YAML with `kind: Decoy` first; the real `kind` comes later and wins, as in kubectl.
    YamlDuplicate,
}

fn tagged(v: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, x) in m {
                match x {
                    Value::Object(n) if !n.is_empty() => {
                        out.push_str(&format!("{pad}{}:\n", json!(k)));
                        tagged(x, indent + 2, out);
                    }
                    Value::Array(a) if !a.is_empty() => {
                        out.push_str(&format!("{pad}{}:\n", json!(k)));
                        tagged(x, indent, out);
                    }
                    _ => out.push_str(&format!("{pad}{}: {}\n", json!(k), scalar(x))),
                }
            }
        }
        Value::Array(a) if !a.is_empty() => {
            for x in a {
                let mut inner = String::new();
                match x {
                    Value::Object(n) if !n.is_empty() => tagged(x, indent + 2, &mut inner),
                    Value::Array(b) if !b.is_empty() => tagged(x, indent + 2, &mut inner),
                    _ => inner = format!("{pad}  {}\n", scalar(x)),
                }
                out.push_str(&format!("{pad}- {}", &inner[indent + 2..]));
            }
        }
        _ => out.push_str(&format!("{pad}{}\n", scalar(v))),
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::Null => "!!null null".into(),
        Value::Bool(b) => format!("!!bool \"{b}\""),
        Value::Number(n) if n.is_i64() || n.is_u64() => format!("!!int \"{n}\""),
        Value::Number(n) => format!("!!float \"{n}\""),
        Value::String(s) => format!("!!str {}", json!(s)),
        Value::Object(_) => "{}".into(),
        Value::Array(_) => "[]".into(),
    }
}

fn write(v: &Value, form: Form) -> (String, &'static str) {
    match form {
        Form::Json => (serde_json::to_string_pretty(v).unwrap(), "x.json"),
        Form::JsonStream => {
            let other = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "o"}});
            (format!("{other}\n{v} {other}"), "-")
        }
        Form::Yaml => (serde_saphyr::to_string(v).unwrap(), "x.yaml"),
        Form::YamlTagged => {
            let mut s = String::new();
            tagged(v, 0, &mut s);
            (s, "x.yaml")
        }
        Form::YamlDuplicate => {
            (format!("kind: Decoy\n{}", serde_saphyr::to_string(v).unwrap()), "x.yaml")
        }
    }
}

/// What kubectl sends for a document it read: numbers go through float64 and are written back
/// as Go writes them, so a whole-number float (`8265.0`) reaches the server as `8265`.
fn as_kubectl_sends(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            Value::Object(m.iter().map(|(k, x)| (k.clone(), as_kubectl_sends(x))).collect())
        }
        Value::Array(a) => Value::Array(a.iter().map(as_kubectl_sends).collect()),
        Value::Number(n) if !n.is_i64() && !n.is_u64() => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => json!(f as i64),
            _ => v.clone(),
        },
        _ => v.clone(),
    }
}

/// The KubeRay CRD's defaults among the fields raydar reads, as the server fills them: a
/// container port's protocol, and a worker group's replica bounds and hosts.
fn crd_defaults(v: &mut Value) {
    fn fill(m: &mut serde_json::Map<String, Value>, k: &str, d: Value) {
        if m.get(k).is_none_or(Value::is_null) {
            m.insert(k.into(), d);
        }
    }
    match v {
        Value::Object(m) => {
            if m.contains_key("containerPort") {
                fill(m, "protocol", json!("TCP"));
            }
            if m.contains_key("groupName") {
                fill(m, "minReplicas", json!(0));
                fill(m, "maxReplicas", json!(i32::MAX));
                fill(m, "numOfHosts", json!(1));
            }
            m.values_mut().for_each(crd_defaults);
        }
        Value::Array(a) => a.iter_mut().for_each(crd_defaults),
        _ => {}
    }
}

/// The real server's answer to creating `v` as kubectl would send it, with dryRun=All: Ok with
/// the object as it would be stored, or why not.
async fn server_answer(admin: &kube::Client, v: &Value) -> Result<Value, String> {
    let v = &as_kubectl_sends(v);
    let path = match v["kind"].as_str() {
        Some("Service") => format!("/api/v1/namespaces/{NS}/services?dryRun=All"),
        _ => format!("/apis/ray.io/v1/namespaces/{NS}/rayclusters?dryRun=All"),
    };
    let req = http::Request::post(path)
        .header("content-type", "application/json")
        .body(serde_json::to_vec(v).unwrap())
        .unwrap();
    match admin.request_text(req).await {
        Ok(text) => Ok(serde_json::from_str(&text).unwrap()),
        Err(kube::Error::Api(s)) if s.code == 400 || s.code == 422 => Err(s.message),
        Err(e) => panic!("the real server did not answer: {e}"),
    }
}

async fn server_verdict(admin: &kube::Client, v: &Value) -> Option<String> {
    server_answer(admin, v).await.err()
}

#[cfg_attr(not(envtest), ignore = "needs kube-apiserver and etcd: KUBEBUILDER_ASSETS")]
#[test]
fn scan_f_reads_what_the_real_server_accepts_and_rejects_what_it_rejects() {
    let env = envtest();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let admin = rt.block_on(env.client(RealUser::Admin));
    rt.block_on(async {
        let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}});
        let _ = crate::envtest::load(&admin, vec![ns]).await;
    });
    let forms = proptest::sample::select(vec![
        Form::Json,
        Form::JsonStream,
        Form::Yaml,
        Form::YamlTagged,
        Form::YamlDuplicate,
    ]);
    let strategy = (prop_oneof![ray_cluster(), service()], forms);
    let demo = rt.block_on(raydar::demo::DemoServer::start(Default::default())).unwrap();
    let demo_admin = rt.block_on(demo.client(raydar::demo::DemoUser::Admin)).unwrap();
    rt.block_on(async {
        let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}});
        let _ = crate::envtest::load(&demo_admin, vec![ns]).await;
    });
    let mut runner =
        TestRunner::new(Config { cases: 384, failure_persistence: None, ..Config::default() });
    let (accepted, rejected) = (std::cell::Cell::new(0), std::cell::Cell::new(0));
    let result = runner.run(&strategy, |(obj, form)| {
        let answer = rt.block_on(server_answer(&admin, &obj));
        let verdict = answer.as_ref().err().cloned();
        // The embedded server answers as the real one does.
        let demo_verdict = rt.block_on(server_verdict(&demo_admin, &obj));
        prop_assert_eq!(
            demo_verdict.is_some(),
            verdict.is_some(),
            "real server: {:?}, embedded server: {:?}",
            verdict,
            demo_verdict
        );
        let (text, file) = write(&obj, form);
        let mut set = ManifestSet::default();
        set.add_text(file, &text);
        let kind = obj["kind"].as_str().unwrap();
        let read = match kind {
            "Service" => set.inventory.services.len(),
            _ => set.inventory.ray_clusters.len(),
        };
        match verdict {
            None => {
                accepted.set(accepted.get() + 1);
                prop_assert!(
                    set.errors.is_empty() && read == 1,
                    "the server accepts this {kind}, raydar does not ({form:?}): {:?}\n{text}",
                    set.errors
                );
                // With the same meaning: the RayCluster's spec as raydar reads it equals what
                // raydar reads from the object the server would store.
                if kind == "RayCluster" {
                    let mut stored = ManifestSet::default();
                    stored.add_text("stored.json", &answer.as_ref().unwrap().to_string());
                    let spec = |s: &ManifestSet| {
                        let mut v =
                            serde_json::to_value(&s.inventory.ray_clusters[0].spec).unwrap();
                        crd_defaults(&mut v);
                        v
                    };
                    prop_assert_eq!(spec(&set), spec(&stored), "{:?}: {}", form, text);
                }
            }
            Some(why) => {
                rejected.set(rejected.get() + 1);
                prop_assert!(
                    !set.errors.is_empty() && read == 0,
                    "the server rejects this {kind} ({why}), raydar reads it ({form:?})\n{text}"
                );
                let e = &set.errors[0];
                prop_assert!(e.file.is_some() && e.document.is_some(), "{e:?}");
            }
        }
        Ok(())
    });
    let (accepted, rejected) = (accepted.get(), rejected.get());
    eprintln!("manifest property: {accepted} accepted, {rejected} rejected by the real server");
    if let Err(e) = result {
        panic!("{e}");
    }
    assert!(accepted > 20 && rejected > 20, "both sides are exercised: {accepted}/{rejected}");
}

fn fixture_files(dir: &str) -> Vec<std::path::PathBuf> {
    let d = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(dir);
    let mut files: Vec<_> = std::fs::read_dir(d).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files
}

/// `kubectl create --dry-run=server -f FILE` on the real server: kubectl's own reading of
/// the YAML or JSON, then the server's verdict.
fn kubectl_accepts(kubeconfig: &std::path::Path, file: &std::path::Path) -> Result<(), String> {
    let out = std::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(["create", "--dry-run=server", "-n", NS, "-f"])
        .arg(file)
        .output()
        .expect("kubectl is on PATH");
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[test]
fn fixtures_of_the_shapes_found_are_read_or_refused_by_scan_f() {
    for f in fixture_files("kubernetes-accepts") {
        let set = ManifestSet::load(std::slice::from_ref(&f)).unwrap();
        assert!(set.errors.is_empty(), "{}: {:?}", f.display(), set.errors);
        assert!(!set.inventory.is_empty(), "{}: nothing read", f.display());
    }
    for f in fixture_files("kubernetes-rejects") {
        let set = ManifestSet::load(std::slice::from_ref(&f)).unwrap();
        assert_eq!(set.errors.len(), 1, "{}: {:?}", f.display(), set.errors);
        let e = &set.errors[0];
        assert_eq!(e.file.as_deref(), Some(f.display().to_string().as_str()));
        assert_eq!(e.document, Some(1));
        // The object and the field are named.
        assert!(
            e.message.contains('/') && e.message.contains(": "),
            "{}: {}",
            f.display(),
            e.message
        );
    }
}

#[cfg_attr(not(all(envtest, kubectl)), ignore = "needs KUBEBUILDER_ASSETS and kubectl")]
#[test]
fn kubectl_and_the_real_server_agree_on_the_fixtures() {
    let env = envtest();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let admin = env.client(RealUser::Admin).await;
        let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}});
        let _ = crate::envtest::load(&admin, vec![ns]).await;
    });
    let kc = env.write_kubeconfig(RealUser::Admin, "fixtures");
    for f in fixture_files("kubernetes-accepts") {
        if let Err(e) = kubectl_accepts(&kc, &f) {
            panic!("{}: kubectl and the real server refuse it: {e}", f.display());
        }
    }
    for f in fixture_files("kubernetes-rejects") {
        assert!(kubectl_accepts(&kc, &f).is_err(), "{}: the real server accepts it", f.display());
    }
}

#[test]
fn the_image_says_what_runs_when_ray_version_does_not_and_pre_releases_come_first() {
    use raydar::posture::{evaluate, PostureConfig, Severity};
    let f = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/kubernetes-accepts/floats-and-int-or-string.yaml");
    let set = ManifestSet::load(&[f]).unwrap();
    let entries = evaluate(&set.inventory, &PostureConfig::default());
    let floats = entries.iter().find(|e| e.name == "floats").unwrap();
    let ver = floats.findings.iter().find(|f| f.rule.id == "RAY-VER-001");
    assert!(
        // Critical: an unauthenticated-RCE advisory on a public LoadBalancer without auth.
        ver.is_some_and(|f| f.severity == Severity::Critical && f.evidence.contains("2.9.0")),
        "rayVersion: latest on rayproject/ray:2.9.0 is Ray 2.9.0: {:?}",
        floats.findings
    );
    let doc = |v: &str| {
        format!("apiVersion: ray.io/v1\nkind: RayCluster\nmetadata: {{name: rc}}\nspec:\n  rayVersion: \"{v}\"\n  headGroupSpec:\n    rayStartParams: {{}}\n    template:\n      spec:\n        containers: [{{name: ray-head, image: \"rayproject/ray:{v}\"}}]\n")
    };
    let severity = |v: &str| {
        let mut set = ManifestSet::default();
        set.add_text("x.yaml", &doc(v));
        let e = evaluate(&set.inventory, &PostureConfig::default());
        e[0].findings.iter().find(|f| f.rule.id == "RAY-VER-001").map(|f| f.severity)
    };
    assert_eq!(severity("2.52.0"), Some(Severity::High));
    assert_eq!(severity("2.52.0-rc1"), Some(Severity::High), "before the 2.52.0 fix");
    assert_eq!(severity("2.56.0"), None, "the fix of the last advisory");
    assert_eq!(severity("2.56.0rc1"), Some(Severity::High), "a pre-release comes before it");
}

#[cfg_attr(not(envtest), ignore = "needs kube-apiserver and etcd: KUBEBUILDER_ASSETS")]
#[tokio::test]
async fn null_map_values_mean_what_they_mean_on_the_real_server() {
    let env = envtest();
    let admin = env.client(RealUser::Admin).await;
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}});
    let _ = crate::envtest::load(&admin, vec![ns]).await;
    let rc = json!({"apiVersion": "ray.io/v1", "kind": "RayCluster",
        "metadata": {"name": "nulls", "namespace": NS, "labels": {"team": null}},
        "spec": {"headGroupSpec": {"rayStartParams": {"num-cpus": null},
            "template": {"spec": {"nodeSelector": {"a": null}, "containers": [{"name": "h", "image": "i"}]}}}}});
    let req =
        http::Request::post(format!("/apis/ray.io/v1/namespaces/{NS}/rayclusters?dryRun=All"))
            .header("content-type", "application/json")
            .body(serde_json::to_vec(&rc).unwrap())
            .unwrap();
    let stored: Value = serde_json::from_str(&admin.request_text(req).await.unwrap()).unwrap();
    let mut set = ManifestSet::default();
    set.add_text("x.json", &rc.to_string());
    assert!(set.errors.is_empty(), "{:?}", set.errors);
    let read = serde_json::to_value(&set.inventory.ray_clusters[0].metadata.labels).unwrap();
    let real = stored["metadata"].get("labels").cloned().unwrap_or(Value::Null);
    assert_eq!(read, real, "labels as the real server stores them");
    assert_eq!(real, json!({"team": ""}));
    // In the custom resource's own maps, null is pruned.
    assert_eq!(stored["spec"]["headGroupSpec"]["rayStartParams"], json!({}));
    let spec = &set.inventory.ray_clusters[0].spec;
    assert!(spec.head_group_spec.ray_start_params.is_empty());
    // A built-in kind's selector: null is "".
    let svc = json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "nulls", "namespace": NS}, "spec": {"selector": {"a": null}, "ports": [{"port": 80}]}});
    let req = http::Request::post(format!("/api/v1/namespaces/{NS}/services?dryRun=All"))
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&svc).unwrap())
        .unwrap();
    let stored: Value = serde_json::from_str(&admin.request_text(req).await.unwrap()).unwrap();
    assert_eq!(stored["spec"]["selector"], json!({"a": ""}));
    let mut set = ManifestSet::default();
    set.add_text("y.json", &svc.to_string());
    assert!(set.errors.is_empty(), "{:?}", set.errors);
}
