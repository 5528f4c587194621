//! Finding the rollout's current ("new") ReplicaSet by comparing pod templates (spec §3.2), never
//! by trusting a hash label a foreign controller computed. Both templates are normalised the same
//! way — hash label and previously injected ephemeral metadata / anti-affinity removed, Kubernetes
//! PodTemplate defaulting applied, the deprecated `serviceAccount` blanked, resource quantities
//! canonicalised, empty and null members dropped — and then compared as JSON values. Pure: the
//! caller passes the desired template and the candidate ReplicaSets' templates.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::controller::hash::{
    POD_TEMPLATE_HASH_LABEL, canonicalize, remove_pod_template_hash_label,
};

/// ReplicaSet annotation recording the ephemeral metadata we injected (spec §7.2).
pub const EPHEMERAL_METADATA_ANNOTATION: &str = "rollout.argoproj.io/ephemeral-metadata";

/// A candidate ReplicaSet owned by (or adoptable by) the rollout.
#[derive(Debug, Clone, Copy)]
pub struct CandidateReplicaSet<'a> {
    /// `metadata.name`.
    pub name: &'a str,
    /// `metadata.creationTimestamp`.
    pub created_at: Option<DateTime<Utc>>,
    /// Its `rollouts-pod-template-hash` label.
    pub pod_template_hash: Option<&'a str>,
    /// `spec.template` as JSON.
    pub template: &'a Value,
    /// Its `rollout.argoproj.io/ephemeral-metadata` annotation, raw.
    pub ephemeral_metadata: Option<&'a str>,
}

/// The `{labels, annotations}` keys we injected as ephemeral metadata.
fn injected_keys(annotation: Option<&str>) -> (Vec<String>, Vec<String>) {
    let Some(parsed) = annotation.and_then(|raw| serde_json::from_str::<Value>(raw).ok()) else {
        return (Vec::new(), Vec::new());
    };
    let keys = |field: &str| -> Vec<String> {
        parsed
            .get(field)
            .and_then(Value::as_object)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    };
    (keys("labels"), keys("annotations"))
}

fn remove_metadata_keys(template: &mut Value, field: &str, keys: &[String]) {
    if let Some(map) = template
        .get_mut("metadata")
        .and_then(|m| m.get_mut(field))
        .and_then(Value::as_object_mut)
    {
        for key in keys {
            map.remove(key);
        }
    }
}

/// True for the pod anti-affinity term we inject (§7.4): a label selector on the hash label.
fn is_injected_anti_affinity_term(term: &Value) -> bool {
    let term = term.get("podAffinityTerm").unwrap_or(term);
    term.pointer("/labelSelector/matchExpressions")
        .and_then(Value::as_array)
        .is_some_and(|exprs| {
            exprs
                .iter()
                .any(|e| e.get("key").and_then(Value::as_str) == Some(POD_TEMPLATE_HASH_LABEL))
        })
}

fn remove_injected_anti_affinity(template: &mut Value) {
    let Some(anti) = template.pointer_mut("/spec/affinity/podAntiAffinity") else {
        return;
    };
    for field in [
        "requiredDuringSchedulingIgnoredDuringExecution",
        "preferredDuringSchedulingIgnoredDuringExecution",
    ] {
        if let Some(terms) = anti.get_mut(field).and_then(Value::as_array_mut) {
            terms.retain(|t| !is_injected_anti_affinity_term(t));
        }
    }
}

fn set_default(object: &mut Map<String, Value>, key: &str, value: Value) {
    if object.get(key).is_none_or(Value::is_null) {
        object.insert(key.to_owned(), value);
    }
}

/// `imagePullPolicy` default: `Always` for `:latest` or untagged images, else `IfNotPresent`.
fn default_pull_policy(image: &str) -> &'static str {
    if image.contains('@') {
        return "IfNotPresent";
    }
    let last_segment = image.rsplit('/').next().unwrap_or(image);
    match last_segment.rsplit_once(':') {
        Some((_, tag)) if tag != "latest" => "IfNotPresent",
        _ => "Always",
    }
}

fn default_probe(probe: &mut Value) {
    let Some(p) = probe.as_object_mut() else {
        return;
    };
    set_default(p, "timeoutSeconds", json!(1));
    set_default(p, "periodSeconds", json!(10));
    set_default(p, "successThreshold", json!(1));
    set_default(p, "failureThreshold", json!(3));
    default_http_get(probe);
}

fn default_http_get(handler: &mut Value) {
    if let Some(http) = handler.get_mut("httpGet").and_then(Value::as_object_mut) {
        set_default(http, "scheme", json!("HTTP"));
    }
}

fn default_field_ref(holder: &mut Value) {
    if let Some(field_ref) = holder.get_mut("fieldRef").and_then(Value::as_object_mut) {
        set_default(field_ref, "apiVersion", json!("v1"));
    }
}

fn default_container(container: &mut Value) {
    let Some(c) = container.as_object_mut() else {
        return;
    };
    set_default(c, "terminationMessagePath", json!("/dev/termination-log"));
    set_default(c, "terminationMessagePolicy", json!("File"));
    if let Some(image) = c.get("image").and_then(Value::as_str) {
        let policy = default_pull_policy(image);
        set_default(c, "imagePullPolicy", json!(policy));
    }
    if let Some(ports) = c.get_mut("ports").and_then(Value::as_array_mut) {
        for port in ports.iter_mut().filter_map(Value::as_object_mut) {
            set_default(port, "protocol", json!("TCP"));
        }
    }
    if let Some(env) = c.get_mut("env").and_then(Value::as_array_mut) {
        for var in env {
            if let Some(value_from) = var.get_mut("valueFrom") {
                default_field_ref(value_from);
            }
        }
    }
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(p) = c.get_mut(probe) {
            default_probe(p);
        }
    }
    if let Some(lifecycle) = c.get_mut("lifecycle").and_then(Value::as_object_mut) {
        for hook in lifecycle.values_mut() {
            default_http_get(hook);
        }
    }
    for quantities in ["limits", "requests"] {
        if let Some(map) = c
            .get_mut("resources")
            .and_then(|r| r.get_mut(quantities))
            .and_then(Value::as_object_mut)
        {
            canonicalize_quantities(map);
        }
    }
}

fn default_volume(volume: &mut Value) {
    for source in ["secret", "configMap", "downwardAPI", "projected"] {
        if let Some(s) = volume.get_mut(source).and_then(Value::as_object_mut) {
            set_default(s, "defaultMode", json!(420));
        }
    }
    if let Some(items) = volume
        .pointer_mut("/downwardAPI/items")
        .and_then(Value::as_array_mut)
    {
        for item in items {
            default_field_ref(item);
        }
    }
    if let Some(size) = volume.pointer_mut("/emptyDir/sizeLimit") {
        canonicalize_quantity_value(size);
    }
}

/// Applies the Kubernetes defaults a PodTemplateSpec gains on its way through the API server
/// (`SetDefaults_PodSpec`, `SetDefaults_Container`, probes, volumes), so a user's sparse template
/// compares equal to the defaulted copy stored in a ReplicaSet. Idempotent.
pub fn apply_pod_template_defaults(template: &mut Value) {
    let Some(spec) = template.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    set_default(spec, "restartPolicy", json!("Always"));
    set_default(spec, "terminationGracePeriodSeconds", json!(30));
    set_default(spec, "dnsPolicy", json!("ClusterFirst"));
    set_default(spec, "schedulerName", json!("default-scheduler"));
    for list in ["containers", "initContainers", "ephemeralContainers"] {
        if let Some(containers) = spec.get_mut(list).and_then(Value::as_array_mut) {
            containers.iter_mut().for_each(default_container);
        }
    }
    if let Some(volumes) = spec.get_mut("volumes").and_then(Value::as_array_mut) {
        volumes.iter_mut().for_each(default_volume);
    }
    if let Some(overhead) = spec.get_mut("overhead").and_then(Value::as_object_mut) {
        canonicalize_quantities(overhead);
    }
}

/// Parses a Kubernetes quantity (`500m`, `0.5`, `1Gi`, `1e3`, `2k`) into an exact count of
/// nano-units, or `None` when it is not a quantity we can represent exactly.
pub fn quantity_nanos(text: &str) -> Option<i128> {
    let text = text.trim();
    let (number, suffix) =
        match text.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-')) {
            Some(i) => text.split_at(i),
            None => (text, ""),
        };
    let (negative, digits) = match number.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, number.strip_prefix('+').unwrap_or(number)),
    };
    let (int_part, frac_part) = digits.split_once('.').unwrap_or((digits, ""));
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    if !(int_part.bytes().all(|b| b.is_ascii_digit())
        && frac_part.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    // mantissa · 10^(-frac_len) · multiplier, with multiplier expressed in nano-units.
    let mantissa: i128 = format!("{int_part}{frac_part}").parse().ok()?;
    let frac_len = u32::try_from(frac_part.len()).ok()?;
    let (mul_num, exp10): (i128, i32) = match suffix {
        "n" => (1, 0),
        "u" => (1, 3),
        "m" => (1, 6),
        "" => (1, 9),
        "k" => (1, 12),
        "M" => (1, 15),
        "G" => (1, 18),
        "T" => (1, 21),
        "P" => (1, 24),
        "E" => (1, 27),
        "Ki" => (1 << 10, 9),
        "Mi" => (1 << 20, 9),
        "Gi" => (1 << 30, 9),
        "Ti" => (1 << 40, 9),
        "Pi" => (1 << 50, 9),
        "Ei" => (1 << 60, 9),
        s if s.starts_with(['e', 'E']) => (1, 9 + s[1..].parse::<i32>().ok()?),
        _ => return None,
    };
    let scale = exp10 - i32::try_from(frac_len).ok()?;
    let mut value = mantissa.checked_mul(mul_num)?;
    if scale >= 0 {
        value = value.checked_mul(10i128.checked_pow(scale.cast_unsigned())?)?;
    } else {
        let divisor = 10i128.checked_pow(scale.unsigned_abs())?;
        if value % divisor != 0 {
            return None; // finer than a nano-unit: leave it as written
        }
        value /= divisor;
    }
    Some(if negative { -value } else { value })
}

fn canonicalize_quantity_value(value: &mut Value) {
    let nanos = match value {
        Value::String(s) => quantity_nanos(s),
        Value::Number(n) => n.as_i64().map(|v| i128::from(v) * 1_000_000_000),
        _ => None,
    };
    if let Some(nanos) = nanos {
        *value = Value::String(format!("{nanos}n"));
    }
}

fn canonicalize_quantities(map: &mut Map<String, Value>) {
    map.values_mut().for_each(canonicalize_quantity_value);
}

/// Drops `null`, empty objects and empty arrays (Kubernetes `omitempty` semantics), bottom-up.
fn prune_empty(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.values_mut().for_each(prune_empty);
            map.retain(|_, v| !is_empty(v));
        }
        Value::Array(items) => items.iter_mut().for_each(prune_empty),
        _ => {}
    }
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Object(map) => map.is_empty(),
        Value::Array(items) => items.is_empty(),
        _ => false,
    }
}

/// The normal form two templates are compared in. `ephemeral_metadata` is the raw
/// `rollout.argoproj.io/ephemeral-metadata` annotation of the ReplicaSet being compared; its keys
/// are removed from both sides.
pub fn normalize_pod_template(template: &Value, ephemeral_metadata: Option<&str>) -> Value {
    let mut t = template.clone();
    remove_pod_template_hash_label(&mut t);
    let (labels, annotations) = injected_keys(ephemeral_metadata);
    remove_metadata_keys(&mut t, "labels", &labels);
    remove_metadata_keys(&mut t, "annotations", &annotations);
    remove_injected_anti_affinity(&mut t);
    if let Some(spec) = t.get_mut("spec").and_then(Value::as_object_mut) {
        // Deprecated alias the API server fills from serviceAccountName.
        spec.remove("serviceAccount");
    }
    apply_pod_template_defaults(&mut t);
    prune_empty(&mut t);
    canonicalize(&t)
}

/// Semantic template equality used to recognise the current ReplicaSet.
pub fn pod_templates_equal(
    desired: &Value,
    live: &Value,
    live_ephemeral_metadata: Option<&str>,
) -> bool {
    normalize_pod_template(desired, live_ephemeral_metadata)
        == normalize_pod_template(live, live_ephemeral_metadata)
}

/// Finds the new ReplicaSet among `candidates`: only ReplicaSets whose template equals the desired
/// one qualify (a matching hash label alone is never trusted); among those, the one labelled with
/// `computed_hash` wins, else the oldest (creation time, then name).
pub fn find_new_replica_set(
    desired_template: &Value,
    computed_hash: &str,
    candidates: &[CandidateReplicaSet<'_>],
) -> Option<usize> {
    let matching: Vec<usize> = candidates
        .iter()
        .enumerate()
        .filter(|(_, c)| pod_templates_equal(desired_template, c.template, c.ephemeral_metadata))
        .map(|(i, _)| i)
        .collect();
    if let Some(i) = matching
        .iter()
        .copied()
        .find(|i| candidates[*i].pod_template_hash == Some(computed_hash))
    {
        return Some(i);
    }
    matching.into_iter().min_by(|a, b| {
        let (a, b) = (&candidates[*a], &candidates[*b]);
        // `None` creation times sort last: a ReplicaSet we know the age of is preferred.
        (a.created_at.is_none(), a.created_at, a.name).cmp(&(
            b.created_at.is_none(),
            b.created_at,
            b.name,
        ))
    })
}

/// True when the name we would create (`<rollout>-<hash>`) or the hash itself is already taken by
/// a ReplicaSet with a different template: the caller must bump `status.collisionCount`.
pub fn is_hash_collision(
    desired_template: &Value,
    rollout_name: &str,
    computed_hash: &str,
    candidates: &[CandidateReplicaSet<'_>],
) -> bool {
    let name = format!("{rollout_name}-{computed_hash}");
    candidates.iter().any(|c| {
        (c.name == name || c.pod_template_hash == Some(computed_hash))
            && !pod_templates_equal(desired_template, c.template, c.ephemeral_metadata)
    })
}

/// Revision of a ReplicaSet created (or reused) now: one above the highest revision among the
/// older ReplicaSets (spec §3.3), 1 for the first.
pub fn next_revision(older_revisions: &[i64]) -> i64 {
    older_revisions
        .iter()
        .copied()
        .max()
        .unwrap_or(0)
        .saturating_add(1)
}

/// The `rollout.argoproj.io/revision-history` value after a reused ReplicaSet moves from
/// `previous_revision` to a new one: the old value appended, comma separated.
pub fn revision_history_after_bump(existing: Option<&str>, previous_revision: i64) -> String {
    match existing.map(str::trim).filter(|s| !s.is_empty()) {
        Some(history) => format!("{history},{previous_revision}"),
        None => previous_revision.to_string(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn desired() -> Value {
        json!({
            "metadata": {"labels": {"app": "web"}},
            "spec": {
                "containers": [{
                    "name": "web",
                    "image": "nginx:1.27",
                    "ports": [{"containerPort": 80}],
                    "resources": {"requests": {"cpu": "0.5", "memory": "1Gi"}},
                    "readinessProbe": {"httpGet": {"path": "/", "port": 80}}
                }],
                "serviceAccount": "web"
            }
        })
    }

    /// What the API server stores in the ReplicaSet we created from `desired()`.
    fn live() -> Value {
        json!({
            "metadata": {
                "creationTimestamp": null,
                "labels": {"app": "web", "rollouts-pod-template-hash": "6f8b9c4d7", "role": "canary"},
                "annotations": {"team": "a"}
            },
            "spec": {
                "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
                    "weight": 100,
                    "podAffinityTerm": {
                        "labelSelector": {"matchExpressions": [{
                            "key": "rollouts-pod-template-hash", "operator": "In", "values": ["5b8c"]
                        }]},
                        "namespaces": ["default"],
                        "topologyKey": "kubernetes.io/hostname"
                    }
                }]}},
                "containers": [{
                    "image": "nginx:1.27",
                    "imagePullPolicy": "IfNotPresent",
                    "name": "web",
                    "ports": [{"containerPort": 80, "protocol": "TCP"}],
                    "readinessProbe": {
                        "failureThreshold": 3,
                        "httpGet": {"path": "/", "port": 80, "scheme": "HTTP"},
                        "periodSeconds": 10, "successThreshold": 1, "timeoutSeconds": 1
                    },
                    "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}},
                    "terminationMessagePath": "/dev/termination-log",
                    "terminationMessagePolicy": "File"
                }],
                "dnsPolicy": "ClusterFirst",
                "restartPolicy": "Always",
                "schedulerName": "default-scheduler",
                "securityContext": {},
                "terminationGracePeriodSeconds": 30
            }
        })
    }

    const EPHEMERAL: &str = r#"{"labels":{"role":"canary"},"annotations":{"team":"a"}}"#;

    #[test]
    fn defaulted_live_template_equals_sparse_desired_template() {
        assert!(pod_templates_equal(&desired(), &live(), Some(EPHEMERAL)));
    }

    #[test]
    fn real_differences_are_detected() {
        let mut other_image = live();
        other_image["spec"]["containers"][0]["image"] = json!("nginx:1.28");
        assert!(!pod_templates_equal(
            &desired(),
            &other_image,
            Some(EPHEMERAL)
        ));

        let mut other_cpu = live();
        other_cpu["spec"]["containers"][0]["resources"]["requests"]["cpu"] = json!("600m");
        assert!(!pod_templates_equal(
            &desired(),
            &other_cpu,
            Some(EPHEMERAL)
        ));

        // Without the ephemeral annotation the injected label is a real difference.
        assert!(!pod_templates_equal(&desired(), &live(), None));

        // A non-injected anti-affinity term is kept and compared.
        let mut user_affinity = live();
        user_affinity["spec"]["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
            [0]["podAffinityTerm"]["labelSelector"]["matchExpressions"][0]["key"] = json!("app");
        assert!(!pod_templates_equal(
            &desired(),
            &user_affinity,
            Some(EPHEMERAL)
        ));
    }

    #[test]
    fn image_pull_policy_defaults() {
        let cases = [
            ("nginx", "Always"),
            ("nginx:latest", "Always"),
            ("nginx:1.27", "IfNotPresent"),
            ("registry:5000/team/nginx", "Always"),
            ("registry:5000/team/nginx:v2", "IfNotPresent"),
            ("nginx@sha256:abcd", "IfNotPresent"),
        ];
        for (image, want) in cases {
            assert_eq!(default_pull_policy(image), want, "{image}");
        }
    }

    #[test]
    fn quantities_compare_by_value() {
        let cases = [
            ("500m", Some(500_000_000)),
            ("0.5", Some(500_000_000)),
            ("1", Some(1_000_000_000)),
            ("1k", Some(1_000_000_000_000)),
            ("1e3", Some(1_000_000_000_000)),
            ("1Ki", Some(1_024_000_000_000)),
            ("1Gi", Some(1_073_741_824_000_000_000)),
            ("2.5Gi", Some(2_684_354_560_000_000_000)),
            ("100n", Some(100)),
            ("0.1n", None),
            ("abc", None),
            ("", None),
            ("1Zi", None),
        ];
        for (text, want) in cases {
            assert_eq!(quantity_nanos(text), want, "{text}");
        }
    }

    fn candidate<'a>(
        name: &'a str,
        hash: &'a str,
        template: &'a Value,
        age: i64,
    ) -> CandidateReplicaSet<'a> {
        CandidateReplicaSet {
            name,
            created_at: Some(Utc.timestamp_opt(1_700_000_000 + age, 0).unwrap()),
            pod_template_hash: Some(hash),
            template,
            ephemeral_metadata: Some(EPHEMERAL),
        }
    }

    #[test]
    fn find_new_replica_set_compares_templates_not_hashes() {
        let live = live();
        let mut old = live.clone();
        old["spec"]["containers"][0]["image"] = json!("nginx:1.26");
        let ours = "ourhash";
        // A foreign RS carrying our computed hash but a different template is never chosen.
        let candidates = [
            candidate("web-old", ours, &old, 0),
            candidate("web-6f8b9c4d7", "6f8b9c4d7", &live, 10),
        ];
        assert_eq!(find_new_replica_set(&desired(), ours, &candidates), Some(1));
        assert!(is_hash_collision(&desired(), "web", ours, &candidates));

        // Two equal templates: our own hash wins, else the oldest.
        let candidates = [
            candidate("web-b", "b", &live, 20),
            candidate("web-a", "a", &live, 10),
        ];
        assert_eq!(find_new_replica_set(&desired(), "b", &candidates), Some(0));
        assert_eq!(
            find_new_replica_set(&desired(), "zzz", &candidates),
            Some(1)
        );

        // Nothing matches ⇒ create one.
        let candidates = [candidate("web-old", "x", &old, 0)];
        assert_eq!(find_new_replica_set(&desired(), "y", &candidates), None);
        assert!(!is_hash_collision(&desired(), "web", "y", &candidates));
        assert_eq!(find_new_replica_set(&desired(), "y", &[]), None);
    }

    #[test]
    fn normalization_is_idempotent() {
        let once = normalize_pod_template(&live(), Some(EPHEMERAL));
        let twice = normalize_pod_template(&once, Some(EPHEMERAL));
        assert_eq!(once, twice);
    }

    #[test]
    fn garbage_ephemeral_annotation_is_ignored() {
        // An unparsable annotation strips nothing (and never panics).
        assert!(!pod_templates_equal(&desired(), &live(), Some("{not json")));
    }

    /// S14 TestRollBackToStable: rs1 revision 1 → 3 with `revision-history: "1"`.
    #[test]
    fn revisions() {
        assert_eq!(next_revision(&[]), 1);
        assert_eq!(next_revision(&[1, 2]), 3);
        assert_eq!(revision_history_after_bump(None, 1), "1");
        assert_eq!(revision_history_after_bump(Some(""), 1), "1");
        assert_eq!(revision_history_after_bump(Some("1"), 3), "1,3");
    }
}
