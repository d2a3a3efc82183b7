//! The automount-token and dedicated-sa fixes: no API token in Ray pods unless asked, and a
//! ServiceAccount of the cluster's own (RAY-RBAC-001/002).

use super::{autoscaler, for_templates, label, obj_mut, Affected, NEW_PODS};
use crate::remediate::{name_of, Change, Kind, ObjRef, Op, Plan, PlanError, Snapshot, MANAGED_BY};
use serde_json::{json, Value};

pub(super) fn automount_token(t: &Affected, p: &mut Plan) -> Result<(), PlanError> {
    t.require_spec(&p.namespace)?;
    let changed = t.edit_specs(p, |spec, what, warnings| {
        let scaler = autoscaler(spec);
        for_templates(spec, |head, _, tmpl| {
            if head && scaler {
                warnings.push(format!(
                    "{what}: the head keeps its token: the in-tree autoscaler reads it"
                ));
                return;
            }
            if tmpl.pointer("/spec/automountServiceAccountToken") != Some(&json!(false)) {
                obj_mut(tmpl, "spec").insert("automountServiceAccountToken".into(), json!(false));
            }
        });
    });
    if changed {
        p.warnings.push("processes in these pods that call the Kubernetes API with the mounted token stop working".into());
        p.warnings.push(NEW_PODS.into());
    }
    Ok(())
}

pub(super) fn dedicated_sa(t: &Affected, snap: &Snapshot, p: &mut Plan) -> Result<(), PlanError> {
    t.require_spec(&p.namespace)?;
    // Named after the owner for RayJob/RayService clusters: their cluster names change.
    let base = t
        .holders
        .iter()
        .find(|h| h.kind != Kind::RayCluster)
        .map_or(t.name.as_str(), |h| name_of(h.obj));
    let sa = format!("{base}-ray");
    let existing = snap.get(Kind::ServiceAccount, &sa);
    let changed = t.edit_specs(p, |spec, _, _| {
        let scaler = autoscaler(spec);
        for_templates(spec, |head, _, tmpl| {
            // With the autoscaler, KubeRay gives the head its own ServiceAccount (and a Role).
            let cur =
                tmpl.pointer("/spec/serviceAccountName").and_then(Value::as_str).unwrap_or("");
            let legacy = tmpl.pointer("/spec/serviceAccount").and_then(Value::as_str).unwrap_or("");
            let uses_default = matches!(cur, "" | "default") && matches!(legacy, "" | "default");
            if uses_default && !(head && scaler) {
                let s = obj_mut(tmpl, "spec");
                s.insert("serviceAccountName".into(), json!(sa));
                s.remove("serviceAccount");
            }
        });
    });
    if !changed {
        return Ok(());
    }
    if let Some(e) = existing {
        if label(e, MANAGED_BY.0) != Some(MANAGED_BY.1) {
            return Err(PlanError::NotApplicable(format!(
                "ServiceAccount {}/{sa} exists and is not managed by raydar; its roles and token settings are unknown, so raydar will not point the cluster at it",
                p.namespace
            )));
        }
    }
    if existing.is_none() {
        p.changes.push(Change {
            target: ObjRef::new(Kind::ServiceAccount, &p.namespace, &sa),
            op: Op::Create,
            before: None,
            after: Some(json!({"apiVersion": "v1", "kind": "ServiceAccount",
                "metadata": {"name": sa, "namespace": p.namespace, "labels": {MANAGED_BY.0: MANAGED_BY.1}},
                "automountServiceAccountToken": false})),
        });
    }
    p.warnings.push(format!(
        "ServiceAccount {sa} has no roles and no token automount: pods that need the Kubernetes API need a Role bound to it"
    ));
    p.warnings.push(NEW_PODS.into());
    Ok(())
}
