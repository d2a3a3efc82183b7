//! Users of the demo server (bearer tokens), what each may do, and the access reviews
//! (`SelfSubjectAccessReview`, `SelfSubjectRulesReview`) that answer from the same rules.

use super::status::ApiError;
use serde_json::{json, Value};

/// A rule in the style of an RBAC PolicyRule; `namespaces: None` also covers cluster scope.
#[derive(Debug, Clone)]
pub struct Rule {
    pub verbs: Vec<&'static str>,
    pub groups: Vec<&'static str>,
    pub resources: Vec<&'static str>,
    pub namespaces: Option<Vec<&'static str>>,
    /// Resources this rule explicitly excludes (so "everything but secrets" stays one rule).
    pub except: Vec<&'static str>,
}

const READ: [&str; 3] = ["get", "list", "watch"];

impl Rule {
    fn all(verbs: &[&'static str], namespaces: Option<Vec<&'static str>>) -> Self {
        Self {
            verbs: verbs.to_vec(),
            groups: vec!["*"],
            resources: vec!["*"],
            namespaces,
            except: Vec::new(),
        }
    }
    fn except(mut self, res: &[&'static str]) -> Self {
        self.except = res.to_vec();
        self
    }
    fn covers(&self, a: &Attrs) -> bool {
        let res = a.resource_with_sub();
        let verb_ok = self.verbs.iter().any(|v| *v == "*" || *v == a.verb);
        let group_ok = self.groups.iter().any(|g| *g == "*" || *g == a.group);
        let res_ok = self.resources.iter().any(|r| *r == "*" || *r == res || *r == a.resource)
            && !self.except.iter().any(|r| *r == a.resource || *r == res);
        let ns_ok = match (&self.namespaces, &a.namespace) {
            (None, _) => true,
            (Some(list), Some(ns)) => list.iter().any(|n| n == ns),
            (Some(_), None) => false,
        };
        verb_ok && group_ok && res_ok && ns_ok
    }
}

/// A demo user: its name, bearer token and rules.
#[derive(Debug, Clone)]
pub struct User {
    pub name: String,
    pub token: String,
    pub groups: Vec<String>,
    pub rules: Vec<Rule>,
}

/// The request attributes an authorization decision is made on.
#[derive(Debug, Clone, Default)]
pub struct Attrs {
    pub verb: String,
    pub group: String,
    pub resource: String,
    pub subresource: String,
    pub namespace: Option<String>,
    pub name: String,
}

impl Attrs {
    fn resource_with_sub(&self) -> String {
        if self.subresource.is_empty() {
            self.resource.clone()
        } else {
            format!("{}/{}", self.resource, self.subresource)
        }
    }
}

/// The namespaces the limited demo user may work in (full access) and read (no network
/// policies, no secrets).
pub const LIMITED_FULL_NS: &str = "ray-dev";
pub const LIMITED_READ_NS: &str = "ml-team";
pub const LIMITED_USER: &str = "alice";

fn review_rule() -> Rule {
    Rule {
        verbs: vec!["create"],
        groups: vec!["authorization.k8s.io", "authentication.k8s.io"],
        resources: vec![
            "selfsubjectaccessreviews",
            "selfsubjectrulesreviews",
            "selfsubjectreviews",
        ],
        namespaces: None,
        except: Vec::new(),
    }
}

fn random_token(prefix: &str) -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    let s: String = (0..32)
        .map(|_| char::from(b"abcdefghijklmnopqrstuvwxyz0123456789"[rng.random_range(0..36)]))
        .collect();
    format!("{prefix}.{s}")
}

/// The three users of the demo server, with fresh random tokens.
pub fn demo_users() -> Vec<User> {
    vec![
        User {
            name: "raydar-admin".into(),
            token: random_token("admin"),
            groups: vec!["system:masters".into(), "system:authenticated".into()],
            rules: vec![Rule::all(&["*"], None)],
        },
        User {
            name: "raydar-viewer".into(),
            token: random_token("viewer"),
            groups: vec!["system:authenticated".into()],
            rules: vec![Rule::all(&READ, None).except(&["secrets"]), review_rule()],
        },
        User {
            name: LIMITED_USER.into(),
            token: random_token("alice"),
            groups: vec!["system:authenticated".into()],
            rules: vec![
                Rule {
                    verbs: READ.to_vec(),
                    groups: vec![""],
                    resources: vec!["namespaces"],
                    namespaces: None,
                    except: Vec::new(),
                },
                Rule::all(&["*"], Some(vec![LIMITED_FULL_NS])),
                Rule::all(&READ, Some(vec![LIMITED_READ_NS]))
                    .except(&["networkpolicies", "secrets"]),
                review_rule(),
            ],
        },
    ]
}

impl User {
    /// A user known only by name (impersonation of someone the server has no rules for).
    pub fn nobody(name: &str) -> Self {
        Self {
            name: name.into(),
            token: String::new(),
            groups: Vec::new(),
            rules: vec![review_rule()],
        }
    }

    pub fn allowed(&self, a: &Attrs) -> bool {
        self.rules.iter().any(|r| r.covers(a))
    }

    /// 403 worded like the real server.
    pub fn forbidden(&self, a: &Attrs) -> ApiError {
        let res = a.resource_with_sub();
        let qualified = if a.group.is_empty() { res.clone() } else { format!("{res}.{}", a.group) };
        let subject = if a.name.is_empty() {
            format!("{qualified} is forbidden")
        } else {
            format!("{qualified} \"{}\" is forbidden", a.name)
        };
        let scope = match &a.namespace {
            Some(ns) => format!("in the namespace \"{ns}\""),
            None => "at the cluster scope".into(),
        };
        let e = ApiError::new(
            403,
            "Forbidden",
            format!(
                "{subject}: User \"{}\" cannot {} resource \"{res}\" in API group \"{}\" {scope}",
                self.name, a.verb, a.group
            ),
        );
        e.with_details(&a.name, &a.resource, &a.group)
    }

    pub fn check(&self, a: &Attrs) -> Result<(), ApiError> {
        if self.allowed(a) {
            Ok(())
        } else {
            Err(self.forbidden(a))
        }
    }

    /// The `status.resourceRules` of a SelfSubjectRulesReview for `ns`.
    pub fn rules_for(&self, ns: &str) -> Vec<Value> {
        self.rules
            .iter()
            .filter(|r| r.namespaces.as_ref().is_none_or(|l| l.contains(&ns)))
            .map(|r| json!({"verbs": r.verbs, "apiGroups": r.groups, "resources": r.resources}))
            .collect()
    }
}

/// Answers a SelfSubjectAccessReview (JSON body already decoded).
pub fn access_review(user: &User, body: &Value) -> Value {
    let spec = &body["spec"];
    let allowed = if let Some(ra) = spec.get("resourceAttributes").filter(|v| v.is_object()) {
        let s = |k: &str| ra[k].as_str().unwrap_or("").to_string();
        let ns = s("namespace");
        user.allowed(&Attrs {
            verb: s("verb"),
            group: s("group"),
            resource: s("resource"),
            subresource: s("subresource"),
            namespace: (!ns.is_empty()).then_some(ns),
            name: s("name"),
        })
    } else {
        // Non-resource URLs: discovery and health are open to every authenticated user.
        let path =
            spec.pointer("/nonResourceAttributes/path").and_then(Value::as_str).unwrap_or("");
        let verb =
            spec.pointer("/nonResourceAttributes/verb").and_then(Value::as_str).unwrap_or("");
        user.rules.iter().any(|r| r.verbs.contains(&"*") && r.namespaces.is_none())
            || (verb == "get"
                && ["/api", "/apis", "/version", "/healthz", "/readyz", "/livez", "/openapi"]
                    .iter()
                    .any(|p| path.starts_with(p)))
    };
    let mut status = json!({"allowed": allowed});
    if !allowed {
        status["reason"] = json!("");
    }
    json!({"kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
        "metadata": {"creationTimestamp": null}, "spec": spec, "status": status})
}

/// Answers a SelfSubjectReview (`kubectl auth whoami`): who the token belongs to.
pub fn self_review(user: &User) -> Value {
    json!({"kind": "SelfSubjectReview", "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"creationTimestamp": null},
        "status": {"userInfo": {"username": user.name, "groups": user.groups}}})
}

/// Answers a SelfSubjectRulesReview.
pub fn rules_review(user: &User, body: &Value) -> Value {
    let ns = body.pointer("/spec/namespace").and_then(Value::as_str).unwrap_or("");
    json!({"kind": "SelfSubjectRulesReview", "apiVersion": "authorization.k8s.io/v1",
        "metadata": {"creationTimestamp": null}, "spec": body["spec"],
        "status": {"resourceRules": user.rules_for(ns),
            "nonResourceRules": [{"verbs": ["get"], "nonResourceURLs": ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/readyz", "/version", "/version/"]}],
            "incomplete": false}})
}

// ---------------------------------------------------------------------------------------------
// kubectl's protobuf bodies: `k8s\0` + runtime.Unknown{typeMeta, raw}

mod pb {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TypeMeta {
        #[prost(string, optional, tag = "1")]
        pub api_version: Option<String>,
        #[prost(string, optional, tag = "2")]
        pub kind: Option<String>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Unknown {
        #[prost(message, optional, tag = "1")]
        pub type_meta: Option<TypeMeta>,
        #[prost(bytes = "vec", optional, tag = "2")]
        pub raw: Option<Vec<u8>>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ResourceAttributes {
        #[prost(string, optional, tag = "1")]
        pub namespace: Option<String>,
        #[prost(string, optional, tag = "2")]
        pub verb: Option<String>,
        #[prost(string, optional, tag = "3")]
        pub group: Option<String>,
        #[prost(string, optional, tag = "4")]
        pub version: Option<String>,
        #[prost(string, optional, tag = "5")]
        pub resource: Option<String>,
        #[prost(string, optional, tag = "6")]
        pub subresource: Option<String>,
        #[prost(string, optional, tag = "7")]
        pub name: Option<String>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct NonResourceAttributes {
        #[prost(string, optional, tag = "1")]
        pub path: Option<String>,
        #[prost(string, optional, tag = "2")]
        pub verb: Option<String>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct AccessSpec {
        #[prost(message, optional, tag = "1")]
        pub resource_attributes: Option<ResourceAttributes>,
        #[prost(message, optional, tag = "2")]
        pub non_resource_attributes: Option<NonResourceAttributes>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct AccessReview {
        #[prost(message, optional, tag = "2")]
        pub spec: Option<AccessSpec>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct RulesSpec {
        #[prost(string, optional, tag = "1")]
        pub namespace: Option<String>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct RulesReview {
        #[prost(message, optional, tag = "2")]
        pub spec: Option<RulesSpec>,
    }
}

/// Decodes a protobuf SelfSubjectAccessReview or SelfSubjectRulesReview into its JSON form.
pub fn decode_review_protobuf(body: &[u8]) -> Result<Value, ApiError> {
    use prost::Message;
    let bad = |m: &str| ApiError::bad_request(format!("cannot decode protobuf body: {m}"));
    let rest = body.strip_prefix(b"k8s\0").ok_or_else(|| bad("missing k8s envelope"))?;
    let unknown = pb::Unknown::decode(rest).map_err(|e| bad(&e.to_string()))?;
    let kind = unknown.type_meta.as_ref().and_then(|t| t.kind.clone()).unwrap_or_default();
    let raw = unknown.raw.unwrap_or_default();
    let opt = |s: &Option<String>| s.clone().unwrap_or_default();
    match kind.as_str() {
        "SelfSubjectAccessReview" => {
            let r = pb::AccessReview::decode(raw.as_slice()).map_err(|e| bad(&e.to_string()))?;
            let spec = r.spec.unwrap_or_default();
            let mut s = json!({});
            if let Some(ra) = spec.resource_attributes {
                s["resourceAttributes"] = json!({"namespace": opt(&ra.namespace), "verb": opt(&ra.verb),
                    "group": opt(&ra.group), "version": opt(&ra.version), "resource": opt(&ra.resource),
                    "subresource": opt(&ra.subresource), "name": opt(&ra.name)});
            }
            if let Some(na) = spec.non_resource_attributes {
                s["nonResourceAttributes"] = json!({"path": opt(&na.path), "verb": opt(&na.verb)});
            }
            Ok(json!({"apiVersion": "authorization.k8s.io/v1", "kind": kind, "spec": s}))
        }
        "SelfSubjectRulesReview" => {
            let r = pb::RulesReview::decode(raw.as_slice()).map_err(|e| bad(&e.to_string()))?;
            let ns = r.spec.and_then(|s| s.namespace).unwrap_or_default();
            Ok(
                json!({"apiVersion": "authorization.k8s.io/v1", "kind": kind, "spec": {"namespace": ns}}),
            )
        }
        other => Err(bad(&format!("unsupported kind {other:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    fn limited() -> User {
        demo_users().into_iter().find(|u| u.name == LIMITED_USER).unwrap()
    }
    fn attrs(verb: &str, res: &str, ns: Option<&str>) -> Attrs {
        Attrs {
            verb: verb.into(),
            resource: res.into(),
            namespace: ns.map(Into::into),
            ..Default::default()
        }
    }

    #[test]
    fn limited_user_scope() {
        let u = limited();
        assert!(u.allowed(&attrs("list", "pods", Some("ray-dev"))));
        assert!(u.allowed(&attrs("list", "namespaces", None)));
        assert!(!u.allowed(&attrs("list", "pods", None)));
        assert!(!u.allowed(&attrs("list", "pods", Some("ray-prod"))));
        assert!(u.allowed(&attrs("list", "pods", Some("ml-team"))));
        assert!(!u.allowed(&Attrs {
            group: "networking.k8s.io".into(),
            ..attrs("list", "networkpolicies", Some("ml-team"))
        }));
        let msg = u.forbidden(&attrs("list", "pods", Some("ray-prod"))).message;
        assert_eq!(msg, "pods is forbidden: User \"alice\" cannot list resource \"pods\" in API group \"\" in the namespace \"ray-prod\"");
    }

    #[test]
    fn protobuf_access_review_decodes() {
        let ra = pb::ResourceAttributes {
            namespace: Some("x".into()),
            verb: Some("list".into()),
            resource: Some("pods".into()),
            ..Default::default()
        };
        let review = pb::AccessReview {
            spec: Some(pb::AccessSpec {
                resource_attributes: Some(ra),
                non_resource_attributes: None,
            }),
        };
        let unknown = pb::Unknown {
            type_meta: Some(pb::TypeMeta {
                api_version: Some("authorization.k8s.io/v1".into()),
                kind: Some("SelfSubjectAccessReview".into()),
            }),
            raw: Some(review.encode_to_vec()),
        };
        let mut body = b"k8s\0".to_vec();
        body.extend(unknown.encode_to_vec());
        let v = decode_review_protobuf(&body).unwrap();
        assert_eq!(v["spec"]["resourceAttributes"]["verb"], "list");
        let answer = access_review(&limited(), &v);
        assert_eq!(answer["status"]["allowed"], false);
    }
}
