//! What the API server and the controllers behind it add to written objects: Service cluster
//! IPs, nodePorts and load-balancer status (and their removal when the type goes back to
//! ClusterIP, as Kubernetes ≥ 1.20 does), pod scheduling and readiness, namespace phase.

use serde_json::{json, Value};

/// Allocators for cluster IPs, node ports and load-balancer addresses (deterministic).
#[derive(Debug, Default)]
pub struct Alloc {
    ip: u32,
    node_port: u32,
    lb: u32,
    pod_ip: u32,
}

impl Alloc {
    pub fn cluster_ip(&mut self) -> String {
        self.ip += 1;
        format!("10.96.{}.{}", (self.ip / 250) % 256, self.ip % 250 + 1)
    }
    pub fn node_port(&mut self) -> i64 {
        self.node_port += 1;
        30000 + i64::from(self.node_port % 2768)
    }
    pub fn lb_ip(&mut self, intranet: bool) -> String {
        self.lb += 1;
        let (a, b) = ((self.lb / 250) % 256, self.lb % 250 + 1);
        if intranet {
            format!("192.168.{a}.{b}")
        } else {
            format!("47.96.{a}.{b}")
        }
    }
    pub fn pod_ip(&mut self) -> String {
        self.pod_ip += 1;
        format!("10.244.{}.{}", (self.pod_ip / 250) % 256, self.pod_ip % 250 + 2)
    }
}

fn needs_node_ports(ty: &str) -> bool {
    matches!(ty, "NodePort" | "LoadBalancer")
}

/// Service defaulting on create and update (`old` is the stored object on update).
pub fn service(new: &mut Value, old: Option<&Value>, alloc: &mut Alloc) {
    if !new["spec"].is_object() {
        new["spec"] = json!({});
    }
    let ty = new["spec"]["type"].as_str().unwrap_or("ClusterIP").to_string();
    let old_ty = old.and_then(|o| o["spec"]["type"].as_str()).unwrap_or("ClusterIP").to_string();
    let spec = &mut new["spec"];
    spec["type"] = json!(ty);

    // Type-dependent fields the user did not change are dropped when the type no longer needs
    // them (pkg/registry/core/service/strategy.go dropTypeDependentFields).
    if let Some(old) = old {
        if needs_node_ports(&old_ty) && !needs_node_ports(&ty) {
            let old_ports = old["spec"]["ports"].as_array().cloned().unwrap_or_default();
            for p in spec["ports"].as_array_mut().into_iter().flatten() {
                let same = old_ports
                    .iter()
                    .any(|op| op["port"] == p["port"] && op["nodePort"] == p["nodePort"]);
                if same {
                    if let Some(m) = p.as_object_mut() {
                        m.remove("nodePort");
                    }
                }
            }
            if let Some(m) = spec.as_object_mut() {
                if m.get("externalTrafficPolicy") == old["spec"].get("externalTrafficPolicy") {
                    m.remove("externalTrafficPolicy");
                }
                if m.get("healthCheckNodePort") == old["spec"].get("healthCheckNodePort") {
                    m.remove("healthCheckNodePort");
                }
            }
        }
        if old_ty == "LoadBalancer" && ty != "LoadBalancer" {
            if let Some(m) = spec.as_object_mut() {
                for f in ["allocateLoadBalancerNodePorts", "loadBalancerClass"] {
                    if m.get(f) == old["spec"].get(f) {
                        m.remove(f);
                    }
                }
            }
        }
    }

    let headless = spec["clusterIP"].as_str() == Some("None");
    if spec["clusterIP"].as_str().is_none_or(str::is_empty) && ty != "ExternalName" {
        let ip = old
            .and_then(|o| o["spec"]["clusterIP"].as_str())
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .unwrap_or_else(|| alloc.cluster_ip());
        spec["clusterIP"] = json!(ip);
    }
    if ty != "ExternalName" {
        spec["clusterIPs"] = json!([spec["clusterIP"].clone()]);
        spec["ipFamilies"] = json!(["IPv4"]);
        spec["ipFamilyPolicy"] = json!("SingleStack");
        spec["internalTrafficPolicy"] = spec
            .get("internalTrafficPolicy")
            .cloned()
            .filter(|v| !v.is_null())
            .unwrap_or(json!("Cluster"));
    }
    if spec["sessionAffinity"].is_null() {
        spec["sessionAffinity"] = json!("None");
    }
    for p in spec["ports"].as_array_mut().into_iter().flatten() {
        if p["protocol"].is_null() {
            p["protocol"] = json!("TCP");
        }
        if p["targetPort"].is_null() && !headless {
            p["targetPort"] = p["port"].clone();
        }
        if needs_node_ports(&ty) && p["nodePort"].is_null() {
            p["nodePort"] = json!(alloc.node_port());
        }
    }
    if needs_node_ports(&ty) && spec["externalTrafficPolicy"].is_null() {
        spec["externalTrafficPolicy"] = json!("Cluster");
    }
    if ty == "LoadBalancer" && spec["allocateLoadBalancerNodePorts"].is_null() {
        spec["allocateLoadBalancerNodePorts"] = json!(true);
    }

    // The cloud controller: a load balancer address while the type is LoadBalancer.
    let intranet = new
        .pointer("/metadata/annotations/service.beta.kubernetes.io~1alibaba-cloud-loadbalancer-address-type")
        .and_then(Value::as_str)
        == Some("intranet");
    if ty == "LoadBalancer" {
        let has = new
            .pointer("/status/loadBalancer/ingress")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty());
        if !has {
            let kept = old
                .and_then(|o| o.pointer("/status/loadBalancer/ingress"))
                .filter(|v| v.as_array().is_some_and(|a| !a.is_empty()))
                .cloned();
            let ingress =
                kept.unwrap_or_else(|| json!([{"ip": alloc.lb_ip(intranet), "ipMode": "VIP"}]));
            new["status"] = json!({"loadBalancer": {"ingress": ingress}});
        }
    } else {
        new["status"] = json!({"loadBalancer": {}});
    }
}

/// Pod defaulting: scheduled, running and ready at once (the demo has a perfect kubelet),
/// unless the object already carries a status.
pub fn pod(new: &mut Value, old: Option<&Value>, alloc: &mut Alloc, now: &str) {
    let spec = &mut new["spec"];
    for (k, v) in [
        ("restartPolicy", "Always"),
        ("dnsPolicy", "ClusterFirst"),
        ("schedulerName", "default-scheduler"),
        ("serviceAccountName", "default"),
    ] {
        if spec[k].is_null() {
            spec[k] = json!(v);
        }
    }
    if spec["nodeName"].is_null() {
        spec["nodeName"] = json!("demo-node-1");
    }
    if old.is_some() || new["status"]["phase"].is_string() {
        return;
    }
    let statuses: Vec<Value> = new["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| json!({"name": c["name"], "image": c["image"], "imageID": "", "ready": true, "restartCount": 0,
            "started": true, "state": {"running": {"startedAt": now}}}))
        .collect();
    new["status"] = running_status(alloc.pod_ip(), now, statuses);
}

pub fn running_status(pod_ip: String, now: &str, container_statuses: Vec<Value>) -> Value {
    let cond = |t: &str| json!({"type": t, "status": "True", "lastProbeTime": null, "lastTransitionTime": now});
    json!({"phase": "Running", "hostIP": "172.16.0.10", "podIP": pod_ip.clone(), "podIPs": [{"ip": pod_ip}],
        "startTime": now, "qosClass": "Burstable",
        "conditions": [cond("PodReadyToStartContainers"), cond("Initialized"), cond("Ready"), cond("ContainersReady"), cond("PodScheduled")],
        "containerStatuses": container_statuses})
}

pub fn namespace(new: &mut Value) {
    let name = new.pointer("/metadata/name").cloned().unwrap_or(Value::Null);
    if !new["metadata"]["labels"].is_object() {
        new["metadata"]["labels"] = json!({});
    }
    new["metadata"]["labels"]["kubernetes.io/metadata.name"] = name;
    if new["spec"].is_null() {
        new["spec"] = json!({"finalizers": ["kubernetes"]});
    }
    new["status"] = json!({"phase": "Active"});
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clusterip_clears_node_ports_and_lb_fields() {
        let mut alloc = Alloc::default();
        let mut lb = json!({"metadata": {"name": "s"}, "spec": {"type": "LoadBalancer", "ports": [{"name": "dashboard", "port": 8265}]}});
        service(&mut lb, None, &mut alloc);
        assert!(lb["spec"]["ports"][0]["nodePort"].is_i64());
        assert!(lb["status"]["loadBalancer"]["ingress"][0]["ip"].is_string());
        let mut ci = lb.clone();
        ci["spec"]["type"] = json!("ClusterIP");
        service(&mut ci, Some(&lb), &mut alloc);
        assert!(ci["spec"]["ports"][0].get("nodePort").is_none());
        assert!(ci["spec"].get("externalTrafficPolicy").is_none());
        assert!(ci["spec"].get("allocateLoadBalancerNodePorts").is_none());
        assert_eq!(ci["status"], json!({"loadBalancer": {}}));
        assert_eq!(ci["spec"]["clusterIP"], lb["spec"]["clusterIP"]);
    }
}
