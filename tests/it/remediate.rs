//! Fixes end to end against the demo server through kube-rs: for every fix id, the finding is
//! gone after apply, undo restores the objects exactly, the dry run writes nothing, a change
//! between plan and apply takes the conflict path, a forbidden user writes nothing, a failed
//! later write rolls the earlier ones back, and every Ray CR written fits the real CRD schema.

use crate::common::{client, server};
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams};
use raydar::demo::{DemoServer, DemoUser};
use raydar::posture::{PostureConfig, RULES};
use raydar::remediate::journal::Journal;
use raydar::remediate::session::{self, Prepared};
use raydar::remediate::{self, comparable, ApplyError, FixId, Kind, ObjRef, Op, Plan};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;

const KINDS: [Kind; 8] = [
    Kind::RayCluster,
    Kind::RayJob,
    Kind::RayService,
    Kind::Service,
    Kind::Ingress,
    Kind::NetworkPolicy,
    Kind::ServiceAccount,
    Kind::ResourceQuota,
];

type State = BTreeMap<(String, String), (String, Value)>;

/// Every object of the fixable kinds in `ns`: (kind, name) → (resourceVersion, comparable form).
async fn state(c: &kube::Client, ns: &str) -> State {
    let mut out = State::new();
    for k in KINDS {
        let r = ObjRef::new(k, ns, "");
        let api: Api<DynamicObject> = Api::namespaced_with(c.clone(), ns, &r.api_resource());
        for o in api.list(&ListParams::default()).await.unwrap().items {
            let name = o.metadata.name.clone().unwrap();
            let rv = o.metadata.resource_version.clone().unwrap();
            let mut v = serde_json::to_value(o).unwrap();
            v["apiVersion"] = json!(r.api_version);
            v["kind"] = json!(r.kind);
            out.insert((r.kind.clone(), name), (rv, comparable(&v)));
        }
    }
    out
}

fn without_rv(s: &State) -> BTreeMap<(String, String), Value> {
    s.iter().map(|(k, (_, v))| (k.clone(), v.clone())).collect()
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("raydar-fix-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The rules of the entry's findings that `fix` fixes, scanned through `kubeconfig`.
async fn fixable(kubeconfig: &std::path::Path, ns: &str, entry: &str, fix: FixId) -> Vec<String> {
    let mut g = crate::scan_live::opts(Some(kubeconfig.to_path_buf()), PostureConfig::demo());
    g.scope = raydar::cluster::Scope::Namespaces(vec![ns.into()]);
    let report = raydar::scan::gather(&g, &[]).await.unwrap().0;
    let rules: Vec<&str> = RULES.iter().filter(|r| r.fix == Some(fix)).map(|r| r.id).collect();
    let c = report.clusters.iter().find(|c| c.name == entry).expect("entry in the scan");
    let mut out: Vec<String> = c
        .findings
        .iter()
        .filter(|f| rules.contains(&f.rule.id))
        .map(|f| f.rule.id.to_string())
        .collect();
    out.dedup();
    out
}

// -- the real KubeRay CRD schema ---------------------------------------------------------------

fn crd_schema(kind: &str) -> Option<Value> {
    let file = format!("ray.io_{}s.yaml", kind.to_lowercase());
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/kuberay/crds").join(file);
    let text = std::fs::read_to_string(&path).ok()?;
    let crd: Value = serde_saphyr::from_str(&text).unwrap();
    let v = crd["spec"]["versions"].as_array().unwrap().iter().find(|v| v["name"] == "v1")?;
    Some(v["schema"]["openAPIV3Schema"].clone())
}

/// A structural check against an OpenAPI v3 schema: types, known fields, required fields,
/// enums, int-or-string.
fn check_schema(schema: &Value, v: &Value, path: &str, errors: &mut Vec<String>) {
    if schema["x-kubernetes-int-or-string"] == json!(true) {
        if !(v.is_i64() || v.is_u64() || v.is_string()) {
            errors.push(format!("{path}: want int or string, got {v}"));
        }
        return;
    }
    if let Some(e) = schema["enum"].as_array() {
        if !e.contains(v) {
            errors.push(format!("{path}: {v} not in enum {e:?}"));
        }
    }
    match schema["type"].as_str() {
        Some("object") => {
            let Some(o) = v.as_object() else {
                errors.push(format!("{path}: want object, got {v}"));
                return;
            };
            for r in schema["required"].as_array().into_iter().flatten() {
                if !o.contains_key(r.as_str().unwrap()) {
                    errors.push(format!("{path}: missing required {r}"));
                }
            }
            let props = schema["properties"].as_object();
            let preserve = schema["x-kubernetes-preserve-unknown-fields"] == json!(true);
            for (k, x) in o {
                let p = format!("{path}.{k}");
                match (props.and_then(|ps| ps.get(k)), &schema["additionalProperties"]) {
                    (Some(s), _) => check_schema(s, x, &p, errors),
                    (None, Value::Object(_)) => {
                        check_schema(&schema["additionalProperties"], x, &p, errors)
                    }
                    (None, Value::Bool(true)) => {}
                    (None, _) if preserve || props.is_none() => {}
                    (None, _) => errors.push(format!("{p}: unknown field")),
                }
            }
        }
        Some("array") => match v.as_array() {
            Some(a) => a.iter().enumerate().for_each(|(i, x)| {
                check_schema(&schema["items"], x, &format!("{path}[{i}]"), errors)
            }),
            None => errors.push(format!("{path}: want array, got {v}")),
        },
        Some("string") if !v.is_string() => errors.push(format!("{path}: want string, got {v}")),
        Some("integer") if !(v.is_i64() || v.is_u64()) => {
            errors.push(format!("{path}: want integer, got {v}"))
        }
        Some("boolean") if !v.is_boolean() => errors.push(format!("{path}: want boolean, got {v}")),
        _ => {}
    }
}

/// Every Ray CR the plan writes fits the real CRD (skipped when ../shared is absent).
fn check_crds(plan: &Plan) -> usize {
    let mut checked = 0;
    for c in &plan.changes {
        let Some(after) = &c.after else { continue };
        if c.target.group() != "ray.io" {
            continue;
        }
        let Some(schema) = crd_schema(&c.target.kind) else {
            if cfg!(shared) {
                panic!("the {} CRD is not in ../shared/kuberay/crds", c.target.kind);
            }
            return 0;
        };
        let mut body = comparable(after);
        // metadata is validated by the API server itself, not by the CRD schema.
        body.as_object_mut().unwrap().remove("metadata");
        let mut errors = Vec::new();
        check_schema(&schema, &body, &c.target.kind, &mut errors);
        assert!(errors.is_empty(), "{} does not fit the KubeRay CRD: {errors:#?}", c.target);
        checked += 1;
    }
    checked
}

#[test]
#[cfg_attr(not(shared), ignore = "needs ../shared/kuberay/crds")]
fn the_schema_check_catches_what_the_crd_forbids() {
    let schema = crd_schema("RayCluster").expect("the RayCluster CRD in ../shared");
    let mut errors = Vec::new();
    let bad = json!({"apiVersion": "ray.io/v1", "kind": "RayCluster",
        "spec": {"headGroupSpec": {"serviceType": 3, "rayStartParams": {}, "template": {"spec": {"containers": [{"name": "x", "nope": 1}]}}}}});
    check_schema(&schema, &bad, "RayCluster", &mut errors);
    assert!(errors.iter().any(|e| e.contains("serviceType")), "{errors:?}");
    assert!(errors.iter().any(|e| e.contains("nope: unknown field")), "{errors:?}");
}

// -- the matrix --------------------------------------------------------------------------------

/// (namespace, entry, fix): every fix id at least once, on the demo clusters that need it.
const CASES: [(&str, &str, FixId); 10] = [
    ("ray-prod", "train-exposed", FixId::ServiceClusterip),
    ("ml-team", "etl", FixId::ServiceClusterip),
    ("ray-prod", "train-exposed", FixId::NetworkPolicy),
    ("ray-prod", "serve-acl", FixId::NetworkPolicy),
    ("ray-dev", "notebook", FixId::DisableIngress),
    ("ray-dev", "cowboy", FixId::AutomountToken),
    ("default", "stray", FixId::DedicatedSa),
    ("ray-dev", "notebook", FixId::ResourceQuota),
    ("ray-dev", "cowboy", FixId::SecurityContext),
    ("ml-team", "llm-serve-rvmvq", FixId::SecurityContext),
];

fn path_of(c: &raydar::remediate::Change) -> (&'static str, String) {
    let t = &c.target;
    let base = match t.group() {
        "" => format!("/api/v1/namespaces/{}/{}", t.namespace, t.plural),
        g => format!("/apis/{g}/v1/namespaces/{}/{}", t.namespace, t.plural),
    };
    match c.op {
        Op::Create => ("POST", base),
        Op::Update => ("PUT", format!("{base}/{}", t.name)),
        Op::Delete => ("DELETE", format!("{base}/{}", t.name)),
    }
}

/// Makes the plan's first write conflict: touches the object it updates or deletes, or
/// creates the one it would create. Returns how to undo the disturbance.
async fn disturb(
    admin: &kube::Client,
    c: &raydar::remediate::Change,
) -> Option<(Api<DynamicObject>, String)> {
    let api: Api<DynamicObject> =
        Api::namespaced_with(admin.clone(), &c.target.namespace, &c.target.api_resource());
    match c.op {
        Op::Update | Op::Delete => {
            let p = json!({"metadata": {"annotations": {"someone-else": "was-here"}}});
            api.patch(&c.target.name, &PatchParams::default(), &Patch::Merge(&p)).await.unwrap();
            None
        }
        Op::Create => {
            let mut body = c.after.clone().unwrap();
            body["metadata"]["labels"] = json!({"someone-else": "was-here"});
            api.create(&Default::default(), &serde_json::from_value(body).unwrap()).await.unwrap();
            Some((api, c.target.name.clone()))
        }
    }
}

/// A server the fix matrix runs on: the embedded demo server or the real kube-apiserver.
pub struct Backend<'a> {
    pub admin: kube::Client,
    /// The admin's kubeconfig (for scans).
    pub kubeconfig: PathBuf,
    /// Users the RBAC pre-check must refuse, with the namespaces they may not write
    /// (empty: every namespace).
    pub refused: Vec<(&'static str, kube::Client, Vec<&'static str>)>,
    pub url: String,
    pub context: &'static str,
    /// The demo server, for injected failures (rollback); the real server has none.
    pub faults: Option<&'a DemoServer>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fix_applies_undoes_and_keeps_its_promises() {
    let s = server().await;
    let dir = tmpdir("matrix");
    let kubeconfig = dir.join("admin.kubeconfig");
    s.write_kubeconfig(&kubeconfig, DemoUser::Admin).unwrap();
    let b = Backend {
        admin: client(&s, DemoUser::Admin).await,
        kubeconfig,
        refused: vec![("viewer", client(&s, DemoUser::Viewer).await, vec![])],
        url: s.url(),
        context: "raydar-demo",
        faults: Some(&s),
    };
    fix_matrix(&b, &dir).await;
    let _ = std::fs::remove_dir_all(dir);
}

/// For every fix id: the RBAC pre-check refuses who may not write, the dry run is inert, a
/// concurrent change is a 409 that writes nothing, a failed later write rolls back (where
/// failures can be injected), apply clears the findings, and undo is exact.
pub async fn fix_matrix(b: &Backend<'_>, dir: &std::path::Path) {
    let admin = &b.admin;
    let journal = Journal::new(dir.join("journal.jsonl"));
    let mut crds_checked = 0;
    for (ns, entry, fix) in CASES {
        let case = format!("{fix} on {ns}/{entry}");
        let before = state(admin, ns).await;
        let rules = fixable(&b.kubeconfig, ns, entry, fix).await;
        assert!(!rules.is_empty(), "{case}: the demo has a finding this fix fixes");

        // A forbidden user: a clear error from the RBAC pre-check, nothing written.
        for (who, c, namespaces) in &b.refused {
            if !namespaces.is_empty() && !namespaces.contains(&ns) {
                continue;
            }
            match session::prepare_fix(c, ns, entry, fix).await {
                Ok(p) => {
                    match &p.access {
                        Err(ApplyError::Forbidden(what)) => assert!(!what.is_empty()),
                        other => panic!("{case}: {who} should be refused, got {other:?}"),
                    }
                    let msg = p.access.as_ref().unwrap_err().to_string();
                    assert!(msg.contains("nothing was written"), "{msg}");
                    assert!(!p.ready());
                }
                // One who may not even read the namespace is stopped before any plan.
                Err(e) => assert!(e.to_string().contains("forbidden"), "{case}: {who}: {e}"),
            }
            assert_eq!(state(admin, ns).await, before, "{case}: {who} changed something");
        }

        // Dry run: the server answers for every write, nothing changes.
        let p: Prepared = session::prepare_fix(admin, ns, entry, fix).await.unwrap();
        assert!(p.ready(), "{case}: {:?} {:?}", p.access, p.dry_run);
        assert_eq!(p.dry_run.as_ref().unwrap().lines.len(), p.plan.changes.len());
        assert_eq!(state(admin, ns).await, before, "{case}: dry run changed something");
        assert!(!p.plan.diff().is_empty());
        crds_checked += check_crds(&p.plan);

        // Conflict: something changes between plan and apply → 409, nothing overwritten.
        let mid = state(admin, ns).await;
        let undo_disturb = disturb(admin, &p.plan.changes[0]).await;
        let disturbed = state(admin, ns).await;
        match remediate::apply(admin, &p.plan).await {
            Err(e @ ApplyError::Conflict { .. }) => {
                assert!(e.to_string().contains("changed since the preview"), "{e}")
            }
            other => panic!("{case}: expected a conflict, got {other:?}"),
        }
        assert_eq!(state(admin, ns).await, disturbed, "{case}: a conflict must not write");
        if let Some((api, name)) = undo_disturb {
            api.delete(&name, &Default::default()).await.unwrap();
        } else {
            let c = &p.plan.changes[0];
            let api: Api<DynamicObject> =
                Api::namespaced_with(admin.clone(), ns, &c.target.api_resource());
            let patch = json!({"metadata": {"annotations": {"someone-else": null}}});
            api.patch(&c.target.name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .unwrap();
        }
        assert_eq!(without_rv(&state(admin, ns).await), without_rv(&mid));

        // A failing later write (or the only one) rolls back what was written before it.
        if let Some(s) = b.faults {
            let p = session::prepare_fix(admin, ns, entry, fix).await.unwrap();
            let last = p.plan.changes.last().unwrap();
            let (method, path) = path_of(last);
            s.inject_error(Some(method), &path, 500, 1);
            let at_start = without_rv(&state(admin, ns).await);
            match remediate::apply(admin, &p.plan).await {
                Err(e @ ApplyError::Failed { .. }) => {
                    let msg = e.to_string();
                    if p.plan.changes.len() > 1 {
                        assert!(msg.contains("rolled back"), "{case}: {msg}");
                    }
                    assert!(msg.contains("the cluster is as it was before"), "{case}: {msg}");
                }
                other => panic!("{case}: expected a failure, got {other:?}"),
            }
            s.clear_faults();
            assert_eq!(without_rv(&state(admin, ns).await), at_start, "{case}: rollback is exact");
        }

        // Apply for real: the findings are gone, the journal has it.
        let p = session::prepare_fix(admin, ns, entry, fix).await.unwrap();
        let applied = session::commit(admin, &p.plan, &journal, b.context, &b.url).await.unwrap();
        let left = fixable(&b.kubeconfig, ns, entry, fix).await;
        assert!(left.is_empty(), "{case}: still raised after apply: {left:?}");
        for c in &p.plan.changes {
            if c.op == Op::Create {
                let created = &applied.changes.iter().find(|x| x.target == c.target).unwrap().after;
                let labels = &created.as_ref().unwrap()["metadata"]["labels"];
                assert_eq!(labels["app.kubernetes.io/managed-by"], "raydar", "{case}");
            }
        }
        // Planning again finds nothing left to do.
        let again = session::prepare_fix(admin, ns, entry, fix).await.unwrap();
        assert!(again.plan.is_empty(), "{case}: not idempotent: {:?}", again.plan.summary());

        // Undo restores every object exactly.
        let (undone, up) = session::prepare_undo(admin, &journal, &b.url, None).await.unwrap();
        assert_eq!(undone.id, applied.id);
        assert!(up.ready(), "{case}: {:?}", up.dry_run);
        session::commit(admin, &up.plan, &journal, b.context, &b.url).await.unwrap();
        assert_eq!(
            without_rv(&state(admin, ns).await),
            without_rv(&before),
            "{case}: undo is not exact"
        );
        assert_eq!(fixable(&b.kubeconfig, ns, entry, fix).await, rules, "{case}");
    }
    // Where ../shared is absent, the CRD check has nothing to read (build.rs: cfg(shared)).
    if cfg!(shared) {
        assert!(crds_checked >= 7, "Ray CRs checked against the CRD: {crds_checked}");
    }
    let (entries, bad) = journal.load().unwrap();
    assert_eq!((entries.len(), bad), (CASES.len() * 2, 0));
}

#[tokio::test]
async fn undo_refuses_when_an_object_changed_since() {
    let s = server().await;
    let admin = client(&s, DemoUser::Admin).await;
    let dir = tmpdir("changed");
    let journal = Journal::new(dir.join("journal.jsonl"));
    let p = session::prepare_fix(&admin, "ray-prod", "train-exposed", FixId::ServiceClusterip)
        .await
        .unwrap();
    let e = session::commit(&admin, &p.plan, &journal, "raydar-demo", &s.url()).await.unwrap();
    // Someone edits the Service after raydar did.
    let svc: Api<DynamicObject> = Api::namespaced_with(
        admin.clone(),
        "ray-prod",
        &ObjRef::new(Kind::Service, "ray-prod", "").api_resource(),
    );
    let patch = json!({"spec": {"type": "NodePort"}});
    svc.patch("train-exposed-head-svc", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    let before = state(&admin, "ray-prod").await;
    let err = session::prepare_undo(&admin, &journal, &s.url(), Some(&e.id)).await.unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("changed since") && msg.contains("train-exposed-head-svc"), "{msg}");
    assert!(msg.contains("/spec/type"), "names the field: {msg}");
    assert_eq!(state(&admin, "ray-prod").await, before);
    // Another server's change is refused with the context to use.
    let err = session::prepare_undo(&admin, &journal, "https://elsewhere:6443", Some(&e.id))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("--context"), "{err}");
    let err = session::prepare_undo(&admin, &journal, &s.url(), Some("nope")).await.unwrap_err();
    assert!(err.to_string().contains("no change nope"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn journal_never_holds_a_literal_credential() {
    let s = server().await;
    let admin = client(&s, DemoUser::Admin).await;
    let dir = tmpdir("redact");
    let journal = Journal::new(dir.join("journal.jsonl"));
    // ml-team/etl carries literal ALIBABA_CLOUD_ACCESS_KEY_* values in its templates.
    let p = session::prepare_fix(&admin, "ml-team", "etl", FixId::SecurityContext).await.unwrap();
    let rc = p.plan.changes.iter().find(|c| c.target.kind == "RayCluster").unwrap();
    let secret = serde_json::to_string(rc.before.as_ref().unwrap()).unwrap();
    let literal = regex_like_value(&secret, "ALIBABA_CLOUD_ACCESS_KEY_SECRET");
    assert!(!literal.is_empty() && literal != "<redacted>");
    assert!(!p.plan.diff().contains(&literal), "the preview shows a credential");
    session::commit(&admin, &p.plan, &journal, "raydar-demo", &s.url()).await.unwrap();
    let text = std::fs::read_to_string(journal.path()).unwrap();
    assert!(!text.contains(&literal), "the journal holds a credential");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(journal.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // Undo still restores the object exactly: the redacted value is never written back.
    let before = state(&admin, "ml-team").await;
    let (_, up) = session::prepare_undo(&admin, &journal, &s.url(), None).await.unwrap();
    session::commit(&admin, &up.plan, &journal, "raydar-demo", &s.url()).await.unwrap();
    let after = state(&admin, "ml-team").await;
    let rc_now =
        serde_json::to_string(&after[&("RayCluster".to_string(), "etl".to_string())].1).unwrap();
    assert!(rc_now.contains(&literal), "undo lost the credential value");
    assert_ne!(before, after);
    let _ = std::fs::remove_dir_all(dir);
}

/// The value of env var `name` in a JSON text.
fn regex_like_value(json_text: &str, name: &str) -> String {
    let v: Value = serde_json::from_str(json_text).unwrap();
    fn find(v: &Value, name: &str) -> Option<String> {
        match v {
            Value::Object(o) => {
                if o.get("name").and_then(Value::as_str) == Some(name) {
                    if let Some(s) = o.get("value").and_then(Value::as_str) {
                        return Some(s.to_string());
                    }
                }
                o.values().find_map(|x| find(x, name))
            }
            Value::Array(a) => a.iter().find_map(|x| find(x, name)),
            _ => None,
        }
    }
    find(&v, name).unwrap_or_default()
}

#[tokio::test]
async fn plans_explain_what_they_cannot_do() {
    let s = server().await;
    let admin = client(&s, DemoUser::Admin).await;
    let err =
        session::prepare_fix(&admin, "ray-prod", "nope", FixId::NetworkPolicy).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "no RayCluster, RayService, RayJob or RayCronJob named \"nope\" in namespace ray-prod"
    );
    // The RayJob on a shared cluster has no template to fix.
    let err = session::prepare_fix(&admin, "ray-dev", "adhoc-query", FixId::SecurityContext)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("clusterSelector"), "{err}");
    // externalIPs on a ClusterIP Service expose it too: the fix drops them (and says what it
    // cannot change: cowboy's hostNetwork).
    let svcs: Api<DynamicObject> = Api::namespaced_with(
        admin.clone(),
        "ray-dev",
        &ObjRef::new(Kind::Service, "ray-dev", "").api_resource(),
    );
    let ext = json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "cowboy-ext", "namespace": "ray-dev"},
        "spec": {"selector": {"ray.io/cluster": "cowboy"}, "externalIPs": ["203.0.113.10"],
                 "ports": [{"port": 8265}]}});
    svcs.create(&Default::default(), &serde_json::from_value(ext).unwrap()).await.unwrap();
    let p =
        session::prepare_fix(&admin, "ray-dev", "cowboy", FixId::ServiceClusterip).await.unwrap();
    assert_eq!(p.plan.summary(), ["update Service ray-dev/cowboy-ext"]);
    assert!(p.plan.changes[0].after.as_ref().unwrap()["spec"].get("externalIPs").is_none());
    assert!(p.plan.warnings.iter().any(|w| w.contains("hostNetwork")), "{:?}", p.plan.warnings);
    svcs.delete("cowboy-ext", &Default::default()).await.unwrap();
    let err = session::prepare_fix(&admin, "ray-dev", "cowboy", FixId::ServiceClusterip)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("hostNetwork/hostPort"), "{err}");
    // The hardened cluster needs nothing.
    for fix in FixId::ALL {
        let p = session::prepare_fix(&admin, "ray-prod", "hardened", fix).await.unwrap();
        assert!(p.plan.is_empty(), "{fix} on hardened: {:?}", p.plan.summary());
    }
    // Service-clusterip warns about a RayService rollout; disable-ingress asks for the name.
    let p = session::prepare_fix(&admin, "ml-team", "llm-serve-rvmvq", FixId::SecurityContext)
        .await
        .unwrap();
    assert!(
        p.plan.warnings.iter().any(|w| w.contains("rolls out a new RayCluster")),
        "{:?}",
        p.plan.warnings
    );
    // The policy: raydar's own name, the operator found by label in its namespace, submitters,
    // the cluster's own pods on every port.
    let p = session::prepare_fix(&admin, "ray-prod", "train-exposed", FixId::NetworkPolicy)
        .await
        .unwrap();
    let np = p.plan.changes[0].after.as_ref().unwrap();
    assert_eq!(np["metadata"]["name"], "raydar-train-exposed");
    let ingress = np["spec"]["ingress"].as_array().unwrap();
    assert_eq!(
        ingress[0],
        json!({"from": [{"podSelector": {"matchLabels": {"ray.io/cluster": "train-exposed"}}}]})
    );
    assert_eq!(
        ingress[1]["from"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"],
        "kuberay-system"
    );
    assert_eq!(
        ingress[1]["ports"],
        json!([{"protocol": "TCP", "port": 8265}, {"protocol": "TCP", "port": 8000}])
    );
    assert_eq!(
        ingress[2]["from"][0]["podSelector"]["matchLabels"]["ray.io/originated-from-crd"],
        "RayJob"
    );
    let p =
        session::prepare_fix(&admin, "ray-dev", "notebook", FixId::DisableIngress).await.unwrap();
    assert!(p.plan.strong);
    assert!(p
        .plan
        .changes
        .iter()
        .any(|c| c.op == Op::Delete && c.target.name == "notebook-head-ingress"));
}

/// A RayCronJob's findings come from the cluster spec in its job template: that is what the
/// fix writes (and it fits the real CRD).
#[tokio::test]
async fn ray_cron_jobs_are_fixed_in_their_job_template() {
    let s = server().await;
    let admin = client(&s, DemoUser::Admin).await;
    let dir = tmpdir("cron");
    let kc = dir.join("admin.kubeconfig");
    s.write_kubeconfig(&kc, DemoUser::Admin).unwrap();
    let journal = Journal::new(dir.join("journal.jsonl"));
    let r = ObjRef::new(Kind::RayCronJob, "ray-dev", "");
    let api: Api<DynamicObject> = Api::namespaced_with(admin.clone(), "ray-dev", &r.api_resource());
    let cron = json!({"apiVersion": "ray.io/v1", "kind": "RayCronJob",
        "metadata": {"name": "hourly", "namespace": "ray-dev"},
        "spec": {"schedule": "0 * * * *", "jobTemplate": {"entrypoint": "python job.py",
            "shutdownAfterJobFinishes": true,
            "rayClusterSpec": {"rayVersion": "2.54.0", "headGroupSpec": {"rayStartParams": {},
                "template": {"spec": {"containers": [{"name": "ray-head", "image": "rayproject/ray:2.54.0",
                    "securityContext": {"runAsUser": 0}}]}}}}}}});
    api.create(&Default::default(), &serde_json::from_value(cron).unwrap()).await.unwrap();
    let before = fixable(&kc, "ray-dev", "hourly", FixId::SecurityContext).await;
    assert!(before.contains(&"RAY-SEC-002".to_string()), "{before:?}");
    let p =
        session::prepare_fix(&admin, "ray-dev", "hourly", FixId::SecurityContext).await.unwrap();
    assert!(p.ready(), "{:?}", p.dry_run);
    assert_eq!(p.plan.summary(), ["update RayCronJob ray-dev/hourly"]);
    assert!(
        p.plan.warnings.iter().any(|w| w.contains("RayJobs it schedules")),
        "{:?}",
        p.plan.warnings
    );
    check_crds(&p.plan);
    let after = p.plan.changes[0].after.as_ref().unwrap();
    let sc = &after["spec"]["jobTemplate"]["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]
        ["containers"][0]["securityContext"];
    assert_eq!(sc["runAsUser"], 1000);
    assert_eq!(sc["runAsNonRoot"], true);
    session::commit(&admin, &p.plan, &journal, "raydar-demo", &s.url()).await.unwrap();
    assert!(fixable(&kc, "ray-dev", "hourly", FixId::SecurityContext).await.is_empty());
    let (_, up) = session::prepare_undo(&admin, &journal, &s.url(), None).await.unwrap();
    session::commit(&admin, &up.plan, &journal, "raydar-demo", &s.url()).await.unwrap();
    assert_eq!(fixable(&kc, "ray-dev", "hourly", FixId::SecurityContext).await, before);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn cli_fix_refuses_without_a_terminal_or_in_read_only_mode() {
    let dir = tmpdir("cli");
    let run = |args: &[&str]| {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_raydar"))
            .args(args)
            .env("XDG_STATE_HOME", &dir)
            .env("KUBECONFIG", "/nonexistent/raydar-test-kubeconfig")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).to_string(),
            String::from_utf8_lossy(&o.stderr).to_string(),
        )
    };
    let (code, out, err) =
        run(&["--demo", "fix", "ray-prod/train-exposed", "--fix", "service-clusterip"]);
    assert_eq!(code, 2, "{err}");
    assert!(out.contains("~ update Service ray-prod/train-exposed-head-svc"), "{out}");
    assert!(out.contains("server-side dry run"), "{out}");
    assert!(err.contains("stdin is not a terminal"), "{err}");
    let (code, out, err) = run(&[
        "--demo",
        "fix",
        "ray-prod/train-exposed",
        "--fix",
        "service-clusterip",
        "--dry-run",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("dry run only: nothing was written"), "{out}");
    let (code, out, err) =
        run(&["--demo", "fix", "ray-prod/train-exposed", "--fix", "network-policy", "--yes"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("applied change "), "{out}");
    let (code, out, _) = run(&["history"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("network-policy ray-prod/train-exposed") && out.contains("applied"),
        "{out}"
    );
    // A new demo server is another cluster: the change cannot be undone there.
    let (code, _, err) = run(&["--demo", "undo", "--yes"]);
    assert_eq!(code, 2);
    assert!(err.contains("nothing to undo"), "{err}");
    for args in [
        &[
            "--demo",
            "fix",
            "ray-prod/train-exposed",
            "--fix",
            "network-policy",
            "--yes",
            "--read-only",
        ][..],
        &["--demo", "undo", "--yes", "--read-only"][..],
    ] {
        let (code, _, err) = run(args);
        assert_eq!(code, 2);
        assert!(err.contains("--read-only"), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    let (code, _, err) = run(&["--demo", "fix", "ray-prod/train-exposed", "--fix", "nope"]);
    assert_eq!(code, 2);
    assert!(err.contains("unknown fix id \"nope\"") && err.contains("service-clusterip"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}
