//! Istio VirtualService routing (spec §5.3), pure: select the http/tls/tcp routes a Rollout
//! names, set the canary and stable destination weights (host-level by Service name, or
//! subset-level by DestinationRule subset name), add and remove the managed `setHeaderRoute` /
//! `setMirrorRoute` routes, and return the merge patch of `spec.http` / `spec.tls` /
//! `spec.tcp`. Routes the Rollout does not name are left exactly as they are (R5's `prometheus`
//! route), and unknown fields survive because the object is handled as JSON.
//!
//! Subset-level routing also rewrites the DestinationRule (`UpdateHash`): the canary and stable
//! subsets get `rollouts-pod-template-hash` labels. Deviation: the reference rebuilds the subset
//! list and so drops every other subset (pitfall §9.7); rolltop leaves other subsets as they are.
//!
//! A DestinationRule the Rollout marked but no longer references (`trafficRouting` removed) is
//! handed back: [`released_destination_rule_patch`] strips the annotation and the hash labels.
//!
//! Not done: experiment destinations, the delay of the DestinationRule update while a
//! subset's ReplicaSet is not fully available (reference behaviour without canary/stable
//! Services), and releasing the rule when the Rollout itself is deleted.

use serde_json::{Map, Value, json};

use super::{DesiredTraffic, ManagedRouteStep, TrafficRoutingError};
use crate::crd::rollout::{IstioDestinationRule, IstioVirtualService, StringMatch};

/// A destination host compared by its first label (`svc.ns.svc.cluster.local` → `svc`).
fn short_host(host: &str) -> &str {
    host.split('.').next().unwrap_or(host)
}

fn route_name(route: &Value) -> Option<&str> {
    route
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
}

fn routes_of(object: &Value, section: &str) -> Vec<Value> {
    object
        .pointer(&format!("/spec/{section}"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn invalid(path: String, value: &str, detail: String) -> TrafficRoutingError {
    TrafficRoutingError::InvalidReference {
        path,
        value: Value::String(value.to_owned()).to_string(),
        detail,
    }
}

/// The http route indices to weight-patch: the named `routes`, or with `routes` omitted the only
/// non-managed route (else the first unnamed one); plus managed routes that carry a `mirror`.
fn select_http(
    http: &[Value],
    reference: &IstioVirtualService,
    managed: &[String],
    path: &str,
) -> Result<Vec<usize>, TrafficRoutingError> {
    let names = reference.routes.clone().unwrap_or_default();
    let mut indices = Vec::new();
    if names.is_empty() {
        let unmanaged: Vec<usize> = (0..http.len())
            .filter(|i| route_name(&http[*i]).is_none_or(|n| !managed.iter().any(|m| m == n)))
            .collect();
        if unmanaged.len() == 1 {
            indices.push(unmanaged[0]);
        } else if let Some(i) = unmanaged.iter().find(|i| route_name(&http[**i]).is_none()) {
            indices.push(*i);
        } else if unmanaged.len() > 1 {
            return Err(invalid(
                format!("{path}.routes"),
                &reference.name,
                "spec.http[] should be set in VirtualService and it must have exactly one \
                 route when omitting spec.strategy.canary.trafficRouting.istio.virtualService.routes"
                    .to_owned(),
            ));
        }
    }
    for (r, name) in names.iter().enumerate() {
        match http
            .iter()
            .position(|route| route_name(route) == Some(name.as_str()))
        {
            Some(i) => indices.push(i),
            None => {
                return Err(invalid(
                    format!("{path}.routes[{r}]"),
                    name,
                    format!("HTTP Route '{name}' is not found in the defined Virtual Service."),
                ));
            }
        }
    }
    for (i, route) in http.iter().enumerate() {
        if route.get("mirror").is_some()
            && route_name(route).is_some_and(|n| managed.iter().any(|m| m == n))
            && !indices.contains(&i)
        {
            indices.push(i);
        }
    }
    Ok(indices)
}

/// Port of every `match` entry of a TLS/TCP route, when they agree on one.
fn single_port(route: &Value) -> Option<i64> {
    let matches = route.get("match").and_then(Value::as_array)?;
    let mut ports = matches
        .iter()
        .map(|m| m.get("port").and_then(Value::as_i64));
    let first = ports.next()??;
    ports.all(|p| p == Some(first)).then_some(first)
}

fn sni_hosts(route: &Value) -> Vec<String> {
    let mut hosts: Vec<String> = route
        .get("match")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|m| m.get("sniHosts").and_then(Value::as_array))
        .flatten()
        .filter_map(|h| h.as_str().map(str::to_owned))
        .collect();
    hosts.sort();
    hosts.dedup();
    hosts
}

/// TLS route indices: each `tlsRoutes` entry selects the routes with that port and SNI set; an
/// entry without port and hosts selects route 0.
fn select_tls(
    tls: &[Value],
    reference: &IstioVirtualService,
    path: &str,
) -> Result<Vec<usize>, TrafficRoutingError> {
    let mut indices = Vec::new();
    for (r, selector) in reference.tls_routes.iter().flatten().enumerate() {
        let mut wanted: Vec<String> = selector.sni_hosts.clone().unwrap_or_default();
        wanted.sort();
        wanted.dedup();
        let found: Vec<usize> = if selector.port.is_none() && wanted.is_empty() {
            (0..tls.len().min(1)).collect()
        } else {
            (0..tls.len())
                .filter(|i| {
                    selector
                        .port
                        .is_none_or(|p| single_port(&tls[*i]) == Some(p))
                        && (wanted.is_empty() || sni_hosts(&tls[*i]) == wanted)
                })
                .collect()
        };
        if found.is_empty() {
            return Err(invalid(
                format!("{path}.tlsRoutes[{r}]"),
                &reference.name,
                "No matching TLS routes found in the defined Virtual Service.".to_owned(),
            ));
        }
        indices.extend(found);
    }
    Ok(indices)
}

/// TCP route indices: routes whose single port equals the selector's (route 0 without a port).
fn select_tcp(
    tcp: &[Value],
    reference: &IstioVirtualService,
    path: &str,
) -> Result<Vec<usize>, TrafficRoutingError> {
    let mut indices = Vec::new();
    for (r, selector) in reference.tcp_routes.iter().flatten().enumerate() {
        let found: Vec<usize> = match selector.port {
            None => (0..tcp.len().min(1)).collect(),
            Some(port) => (0..tcp.len())
                .filter(|i| single_port(&tcp[*i]) == Some(port))
                .collect(),
        };
        if found.is_empty() {
            return Err(invalid(
                format!("{path}.tcpRoutes[{r}]"),
                &reference.name,
                "No matching TCP routes found in the defined Virtual Service.".to_owned(),
            ));
        }
        indices.extend(found);
    }
    Ok(indices)
}

/// Which side a destination is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Canary,
    Stable,
    /// A DestinationRule `additionalSubsetNames` subset: left unchanged.
    Additional,
    /// Anything else: removed from the route (spec §5.3, pitfall §9.7).
    Foreign,
}

struct Matcher<'a> {
    canary_service: &'a str,
    stable_service: &'a str,
    subsets: Option<&'a IstioDestinationRule>,
}

impl Matcher<'_> {
    fn side(&self, destination: &Value) -> Side {
        let host = destination
            .pointer("/destination/host")
            .and_then(Value::as_str)
            .map(short_host)
            .unwrap_or_default();
        let subset = destination
            .pointer("/destination/subset")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if let Some(dr) = self.subsets {
            if !subset.is_empty() && subset == dr.canary_subset_name {
                return Side::Canary;
            }
            if !subset.is_empty() && subset == dr.stable_subset_name {
                return Side::Stable;
            }
            if dr
                .additional_subset_names
                .iter()
                .flatten()
                .any(|s| s == subset)
            {
                return Side::Additional;
            }
            return Side::Foreign;
        }
        if !host.is_empty() && host == self.canary_service {
            Side::Canary
        } else if !host.is_empty() && host == self.stable_service {
            Side::Stable
        } else {
            Side::Foreign
        }
    }
}

/// Sets the weights of one route's destinations; the stable weight is `100 − canary − Σ
/// additional-subset weights`, floored at 0 (hard-coded 100 as in the reference).
fn patch_destinations(route: &mut Value, matcher: &Matcher<'_>, canary_weight: i32) {
    let Some(destinations) = route.get_mut("route").and_then(Value::as_array_mut) else {
        return;
    };
    destinations.retain(|d| matcher.side(d) != Side::Foreign);
    let additional: i64 = destinations
        .iter()
        .filter(|d| matcher.side(d) == Side::Additional)
        .filter_map(|d| d.get("weight").and_then(Value::as_i64))
        .sum();
    let stable_weight = (100 - i64::from(canary_weight) - additional).max(0);
    for destination in destinations.iter_mut() {
        let weight = match matcher.side(destination) {
            Side::Canary => i64::from(canary_weight),
            Side::Stable => stable_weight,
            Side::Additional | Side::Foreign => continue,
        };
        if let Some(map) = destination.as_object_mut() {
            map.insert("weight".to_owned(), json!(weight));
        }
    }
}

fn string_match(m: &StringMatch) -> Value {
    let mut out = Map::new();
    for (key, value) in [
        ("exact", &m.exact),
        ("prefix", &m.prefix),
        ("regex", &m.regex),
    ] {
        if let Some(v) = value {
            out.insert(key.to_owned(), json!(v));
        }
    }
    Value::Object(out)
}

/// The canary target of a managed route: the canary Service (host-level) or the canary subset of
/// the weighted route's host (subset-level), with the weighted route's first port.
fn canary_destination(
    weighted: Option<&Value>,
    desired: &DesiredTraffic<'_>,
    subsets: Option<&IstioDestinationRule>,
) -> Value {
    let first = weighted
        .and_then(|r| r.pointer("/route/0/destination"))
        .cloned()
        .unwrap_or(Value::Null);
    let mut destination = Map::new();
    match subsets {
        Some(dr) => {
            let host = first.get("host").cloned().unwrap_or(json!(""));
            destination.insert("host".to_owned(), host);
            destination.insert("subset".to_owned(), json!(dr.canary_subset_name));
        }
        None => {
            destination.insert("host".to_owned(), json!(desired.canary_service));
        }
    }
    if let Some(port) = first.get("port") {
        destination.insert("port".to_owned(), port.clone());
    }
    Value::Object(destination)
}

fn apply_route_step(
    http: &mut Vec<Value>,
    step: &ManagedRouteStep<'_>,
    weighted: Option<&Value>,
    desired: &DesiredTraffic<'_>,
    subsets: Option<&IstioDestinationRule>,
) {
    let target = canary_destination(weighted, desired, subsets);
    match step {
        ManagedRouteStep::Header(header) => {
            http.retain(|r| route_name(r) != Some(header.name.as_str()));
            let Some(matches) = header.matches.as_ref() else {
                return;
            };
            let matches: Vec<Value> = matches
                .iter()
                .map(|m| {
                    let value = m.header_value.as_ref().map_or(json!({}), string_match);
                    json!({"headers": {m.header_name.clone(): value}})
                })
                .collect();
            http.push(json!({
                "name": header.name,
                "match": matches,
                "route": [{"destination": target, "weight": 100}],
            }));
        }
        ManagedRouteStep::Mirror(mirror) => {
            http.retain(|r| route_name(r) != Some(mirror.name.as_str()));
            let Some(matches) = mirror.matches.as_ref() else {
                return;
            };
            let matches: Vec<Value> = matches
                .iter()
                .map(|m| {
                    let mut out = Map::new();
                    if let Some(method) = m.method.as_ref() {
                        out.insert("method".to_owned(), string_match(method));
                    }
                    if let Some(path) = m.path.as_ref() {
                        out.insert("uri".to_owned(), string_match(path));
                    }
                    if let Some(headers) = m.headers.as_ref() {
                        let headers: Map<String, Value> = headers
                            .iter()
                            .map(|(k, v)| (k.clone(), string_match(v)))
                            .collect();
                        out.insert("headers".to_owned(), Value::Object(headers));
                    }
                    Value::Object(out)
                })
                .collect();
            let destinations = weighted
                .and_then(|r| r.get("route"))
                .cloned()
                .unwrap_or(json!([]));
            http.insert(
                0,
                json!({
                    "name": mirror.name,
                    "match": matches,
                    "route": destinations,
                    "mirror": target,
                    "mirrorPercentage": {"value": mirror.percentage.unwrap_or(100)},
                }),
            );
        }
    }
}

/// Managed routes first, in `managedRoutes` order, then the others in their order.
fn reorder(http: Vec<Value>, managed: &[String]) -> Vec<Value> {
    if managed.is_empty() {
        return http;
    }
    let mut ordered = Vec::with_capacity(http.len());
    for name in managed {
        ordered.extend(
            http.iter()
                .filter(|r| route_name(r) == Some(name.as_str()))
                .cloned(),
        );
    }
    ordered.extend(
        http.into_iter()
            .filter(|r| route_name(r).is_none_or(|n| !managed.iter().any(|m| m == n))),
    );
    ordered
}

/// The routes of a TLS/TCP section with the selected ones re-weighted; `None` when unchanged.
fn patch_section(
    old: &[Value],
    indices: &[usize],
    matcher: &Matcher<'_>,
    canary_weight: i32,
) -> Option<Value> {
    let mut routes = old.to_vec();
    for index in indices {
        if let Some(route) = routes.get_mut(*index) {
            patch_destinations(route, matcher, canary_weight);
        }
    }
    (routes != old).then_some(Value::Array(routes))
}

/// The merge patch for one VirtualService (`{"spec": {"http": […], "tls": […], "tcp": […]}}`,
/// only the sections that change), or `None` when it already matches.
pub fn virtual_service_patch(
    object: &Value,
    reference: &IstioVirtualService,
    subsets: Option<&IstioDestinationRule>,
    desired: &DesiredTraffic<'_>,
) -> Result<Option<Value>, TrafficRoutingError> {
    let managed = desired.managed_routes();
    let matcher = Matcher {
        canary_service: desired.canary_service,
        stable_service: desired.stable_service,
        subsets,
    };
    let path = "spec.strategy.canary.trafficRouting.istio.virtualService";
    let mut spec = Map::new();

    let old_http = routes_of(object, "http");
    let mut http = old_http.clone();
    if desired.remove_managed_routes {
        let removed = removable_route_names(desired);
        http.retain(|r| route_name(r).is_none_or(|n| !removed.iter().any(|m| m == n)));
    } else if let Some(step) = desired.route_step.as_ref() {
        let weighted = select_http(&http, reference, &managed, path)?
            .first()
            .and_then(|i| http.get(*i).cloned());
        apply_route_step(&mut http, step, weighted.as_ref(), desired, subsets);
    }
    for index in select_http(&http, reference, &managed, path)? {
        if let Some(route) = http.get_mut(index) {
            patch_destinations(route, &matcher, desired.canary_weight);
        }
    }
    let http = reorder(http, &managed);
    if http != old_http {
        spec.insert("http".to_owned(), Value::Array(http));
    }

    let tls = routes_of(object, "tls");
    let tls_indices = select_tls(&tls, reference, path)?;
    if let Some(routes) = patch_section(&tls, &tls_indices, &matcher, desired.canary_weight) {
        spec.insert("tls".to_owned(), routes);
    }
    let tcp = routes_of(object, "tcp");
    let tcp_indices = select_tcp(&tcp, reference, path)?;
    if let Some(routes) = patch_section(&tcp, &tcp_indices, &matcher, desired.canary_weight) {
        spec.insert("tcp".to_owned(), routes);
    }
    if spec.is_empty() {
        return Ok(None);
    }
    let mut patch = json!({"spec": spec});
    // Optimistic concurrency: a VirtualService edited since it was read is not overwritten.
    if let Some(version) = object.pointer("/metadata/resourceVersion") {
        patch["metadata"] = json!({"resourceVersion": version});
    }
    Ok(Some(patch))
}

/// The http routes `RemoveManagedRoutes` deletes (spec §5.3): every route named in
/// `managedRoutes` and every route a `setHeaderRoute` / `setMirrorRoute` step names, so a step
/// route that is missing from `managedRoutes` does not outlive the update either.
fn removable_route_names(desired: &DesiredTraffic<'_>) -> Vec<String> {
    let mut names = desired.managed_routes();
    for step in desired.rollout.steps() {
        let name = step
            .set_header_route
            .as_ref()
            .map(|r| &r.name)
            .or_else(|| step.set_mirror_route.as_ref().map(|r| &r.name));
        if let Some(name) = name
            && !names.contains(name)
        {
            names.push(name.clone());
        }
    }
    names
}

/// The merge patch that hands a DestinationRule back once the Rollout `rollout` that marked it
/// (`managed-by-rollouts`) no longer references it: the annotation goes and so does the
/// `rollouts-pod-template-hash` label of every subset (the reference's DestinationRule
/// controller, spec §5.3). `None` when another Rollout, or nobody, manages it.
pub fn released_destination_rule_patch(object: &Value, rollout: &str) -> Option<Value> {
    const HASH: &str = crate::controller::hash::POD_TEMPLATE_HASH_LABEL;
    const MANAGED_BY: &str = crate::controller::snapshot::MANAGED_BY_ANNOTATION;
    let managed_by = object
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(MANAGED_BY))
        .and_then(Value::as_str)?;
    if managed_by != rollout {
        return None;
    }
    let old = routes_of(object, "subsets");
    let mut subsets = old.clone();
    for subset in &mut subsets {
        if let Some(labels) = subset.get_mut("labels").and_then(Value::as_object_mut) {
            labels.remove(HASH);
        }
    }
    let mut metadata = json!({"annotations": {MANAGED_BY: null}});
    if let Some(version) = object.pointer("/metadata/resourceVersion") {
        metadata["resourceVersion"] = version.clone();
    }
    let mut patch = json!({"metadata": metadata});
    if subsets != old {
        patch["spec"] = json!({"subsets": subsets});
    }
    Some(patch)
}

/// The merge patch pointing the DestinationRule's canary and stable subsets at their
/// ReplicaSets (`labels.rollouts-pod-template-hash`, removed for an empty hash) and marking it
/// managed by the Rollout; `None` when it already does.
pub fn destination_rule_patch(
    object: &Value,
    reference: &IstioDestinationRule,
    desired: &DesiredTraffic<'_>,
) -> Option<Value> {
    use kube::ResourceExt;
    const HASH: &str = crate::controller::hash::POD_TEMPLATE_HASH_LABEL;
    const MANAGED_BY: &str = crate::controller::snapshot::MANAGED_BY_ANNOTATION;
    let old = routes_of(object, "subsets");
    let mut subsets = old.clone();
    for subset in &mut subsets {
        let name = subset
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let hash = if name == reference.canary_subset_name {
            desired.canary_hash
        } else if name == reference.stable_subset_name {
            desired.stable_hash
        } else {
            continue;
        };
        let Some(map) = subset.as_object_mut() else {
            continue;
        };
        let labels = map.entry("labels").or_insert_with(|| json!({}));
        let Some(labels) = labels.as_object_mut() else {
            continue;
        };
        if hash.is_empty() {
            labels.remove(HASH);
        } else {
            labels.insert(HASH.to_owned(), json!(hash));
        }
    }
    let rollout = desired.rollout.name_any();
    let managed = object
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(MANAGED_BY))
        .and_then(Value::as_str)
        == Some(rollout.as_str());
    if subsets == old && managed {
        return None;
    }
    let mut metadata = json!({"annotations": {MANAGED_BY: rollout}});
    if let Some(version) = object.pointer("/metadata/resourceVersion") {
        metadata["resourceVersion"] = version.clone();
    }
    Some(json!({"metadata": metadata, "spec": {"subsets": subsets}}))
}

/// §1.5 checks for one referenced VirtualService: the named routes exist and each holds both
/// the canary and the stable destination (hosts, or subsets with a DestinationRule).
pub fn validate_virtual_service(
    object: &Value,
    reference: &IstioVirtualService,
    subsets: Option<&IstioDestinationRule>,
    canary_service: &str,
    stable_service: &str,
    path: &str,
) -> Result<(), TrafficRoutingError> {
    let managed: Vec<String> = Vec::new();
    let matcher = Matcher {
        canary_service,
        stable_service,
        subsets,
    };
    let http = routes_of(object, "http");
    let tls = routes_of(object, "tls");
    let tcp = routes_of(object, "tcp");
    let selected = [
        (
            "HTTP",
            select_http(&http, reference, &managed, path)?,
            &http,
        ),
        ("TLS", select_tls(&tls, reference, path)?, &tls),
        ("TCP", select_tcp(&tcp, reference, path)?, &tcp),
    ];
    let (canary_what, stable_what) = match subsets {
        Some(dr) => (
            format!("subset '{}'", dr.canary_subset_name),
            format!("subset '{}'", dr.stable_subset_name),
        ),
        None => (
            format!("host '{canary_service}'"),
            format!("host '{stable_service}'"),
        ),
    };
    for (protocol, indices, routes) in selected {
        for index in indices {
            let destinations = routes[index]
                .get("route")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let name = route_name(&routes[index])
                .map_or_else(|| format!("#{index}"), |n| format!("'{n}'"));
            for (side, what, role) in [
                (Side::Canary, &canary_what, "canary"),
                (Side::Stable, &stable_what, "stable"),
            ] {
                if !destinations.iter().any(|d| matcher.side(d) == side) {
                    return Err(invalid(
                        format!("{path}.name"),
                        &reference.name,
                        format!(
                            "{protocol} Route {name} has no destination with {what} (the \
                             {role} destination)"
                        ),
                    ));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::crd::Rollout;

    /// seeds.md R1: the VirtualService `rollouts-demo-vsvc` as the report applies it.
    fn r1_virtual_service() -> Value {
        json!({
            "apiVersion": "networking.istio.io/v1alpha3", "kind": "VirtualService",
            "metadata": {"name": "rollouts-demo-vsvc", "namespace": "argo-apl",
                         "resourceVersion": "7"},
            "spec": {
                "gateways": ["rollouts-demo-gateway"], "hosts": ["*"],
                "http": [{"name": "primary", "route": [
                    {"destination": {"host": "rollouts-demo-stable"}, "weight": 100},
                    {"destination": {"host": "rollouts-demo-canary"}, "weight": 0}
                ]}]
            }
        })
    }

    /// seeds.md R5: route `primary` on `/` and `/err`, and a `prometheus` route to leave alone.
    fn r5_virtual_service() -> Value {
        json!({
            "apiVersion": "networking.istio.io/v1alpha3", "kind": "VirtualService",
            "metadata": {"name": "rollouts-demo-vsvc"},
            "spec": {
                "hosts": ["*"],
                "http": [
                    {"name": "primary",
                     "match": [{"uri": {"exact": "/"}}, {"uri": {"exact": "/err"}}],
                     "route": [
                        {"destination": {"host": "rollouts-demo-stable", "port": {"number": 8080}},
                         "weight": 100},
                        {"destination": {"host": "rollouts-demo-canary", "port": {"number": 8080}},
                         "weight": 0}]},
                    {"name": "prometheus", "match": [{"uri": {"prefix": "/api"}}],
                     "route": [{"destination": {"host": "prometheus", "port": {"number": 9090}}}]}
                ]
            }
        })
    }

    fn rollout(extra: &Value) -> Rollout {
        let mut routing = json!({"istio": {"virtualService":
            {"name": "rollouts-demo-vsvc", "routes": ["primary"]}}});
        if let (Some(r), Some(e)) = (routing.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                r.insert(k.clone(), v.clone());
            }
        }
        serde_json::from_value(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
            "metadata": {"name": "rollouts-demo", "namespace": "argo-apl"},
            "spec": {"strategy": {"canary": {
                "canaryService": "rollouts-demo-canary", "stableService": "rollouts-demo-stable",
                "trafficRouting": routing}}}
        }))
        .unwrap()
    }

    fn desired(rollout: &Rollout, weight: i32) -> DesiredTraffic<'_> {
        DesiredTraffic {
            rollout,
            canary_service: "rollouts-demo-canary",
            stable_service: "rollouts-demo-stable",
            canary_weight: weight,
            max_weight: 100,
            remove_managed_routes: false,
            route_step: None,
            canary_hash: "",
            stable_hash: "",
        }
    }

    fn reference(rollout: &Rollout) -> IstioVirtualService {
        rollout
            .traffic_routing()
            .unwrap()
            .istio
            .clone()
            .unwrap()
            .virtual_service
            .unwrap()
    }

    fn weights(route: &Value) -> Vec<(String, i64)> {
        route["route"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                (
                    d["destination"]["host"].as_str().unwrap().to_owned(),
                    d["weight"].as_i64().unwrap_or(-1),
                )
            })
            .collect()
    }

    #[test]
    fn r1_host_level_weights_follow_the_step() {
        let r = rollout(&json!({}));
        let vs = r1_virtual_service();
        // (canary weight ⇒ stable, canary)
        for (weight, stable, canary) in [(5, 95, 5), (50, 50, 50), (100, 0, 100)] {
            let patch = virtual_service_patch(&vs, &reference(&r), None, &desired(&r, weight))
                .unwrap()
                .unwrap();
            assert_eq!(patch["metadata"]["resourceVersion"], "7");
            assert_eq!(
                weights(&patch["spec"]["http"][0]),
                vec![
                    ("rollouts-demo-stable".to_owned(), stable),
                    ("rollouts-demo-canary".to_owned(), canary)
                ]
            );
            // Nothing but the routes is patched.
            assert_eq!(patch["spec"].as_object().unwrap().len(), 1);
        }
        // Already 100/0: nothing to send.
        assert_eq!(
            virtual_service_patch(&vs, &reference(&r), None, &desired(&r, 0)).unwrap(),
            None
        );
    }

    #[test]
    fn r5_prometheus_route_is_left_alone() {
        let r = rollout(&json!({}));
        let vs = r5_virtual_service();
        let patch = virtual_service_patch(&vs, &reference(&r), None, &desired(&r, 50))
            .unwrap()
            .unwrap();
        let http = patch["spec"]["http"].as_array().unwrap();
        assert_eq!(http.len(), 2);
        assert_eq!(http[1], vs["spec"]["http"][1]);
        assert_eq!(http[0]["match"], vs["spec"]["http"][0]["match"]);
        assert_eq!(http[0]["route"][0]["destination"]["port"]["number"], 8080);
        assert_eq!(
            weights(&http[0]),
            vec![
                ("rollouts-demo-stable".to_owned(), 50),
                ("rollouts-demo-canary".to_owned(), 50)
            ]
        );
    }

    #[test]
    fn fully_qualified_hosts_match_and_foreign_destinations_are_dropped() {
        let r = rollout(&json!({}));
        let vs = json!({"spec": {"http": [{"name": "primary", "route": [
            {"destination": {"host": "rollouts-demo-stable.argo-apl.svc.cluster.local"}, "weight": 90},
            {"destination": {"host": "rollouts-demo-canary.argo-apl.svc.cluster.local"}, "weight": 10},
            {"destination": {"host": "legacy"}, "weight": 0}
        ]}]}});
        let patch = virtual_service_patch(&vs, &reference(&r), None, &desired(&r, 20))
            .unwrap()
            .unwrap();
        let route = &patch["spec"]["http"][0];
        assert_eq!(route["route"].as_array().unwrap().len(), 2);
        assert_eq!(route["route"][0]["weight"], 80);
        assert_eq!(route["route"][1]["weight"], 20);
    }

    #[test]
    fn tls_and_tcp_routes_follow_when_named() {
        let r: Rollout = serde_json::from_value(json!({
            "metadata": {"name": "r"},
            "spec": {"strategy": {"canary": {"canaryService": "c", "stableService": "s",
                "trafficRouting": {"istio": {"virtualService": {"name": "vs",
                    "tlsRoutes": [{"port": 443, "sniHosts": ["a.example"]}],
                    "tcpRoutes": [{"port": 5432}]}}}}}}
        }))
        .unwrap();
        let vs = json!({"spec": {
            "tls": [
                {"match": [{"port": 443, "sniHosts": ["b.example"]}],
                 "route": [{"destination": {"host": "s"}, "weight": 100}]},
                {"match": [{"port": 443, "sniHosts": ["a.example"]}],
                 "route": [{"destination": {"host": "s"}, "weight": 100},
                           {"destination": {"host": "c"}, "weight": 0}]}],
            "tcp": [{"match": [{"port": 5432}],
                     "route": [{"destination": {"host": "s"}, "weight": 100},
                               {"destination": {"host": "c"}, "weight": 0}]}]
        }});
        let d = DesiredTraffic {
            canary_service: "c",
            stable_service: "s",
            ..desired(&r, 30)
        };
        let reference = r.traffic_routing().unwrap().istio.clone().unwrap();
        let reference = reference.virtual_service.unwrap();
        let patch = virtual_service_patch(&vs, &reference, None, &d)
            .unwrap()
            .unwrap();
        assert_eq!(patch["spec"]["tls"][0], vs["spec"]["tls"][0]);
        assert_eq!(patch["spec"]["tls"][1]["route"][0]["weight"], 70);
        assert_eq!(patch["spec"]["tls"][1]["route"][1]["weight"], 30);
        assert_eq!(patch["spec"]["tcp"][0]["route"][1]["weight"], 30);
        assert!(patch["spec"].get("http").is_none());
    }

    #[test]
    fn subset_level_matches_subsets_and_keeps_additional_ones() {
        let r = rollout(&json!({}));
        let dr: IstioDestinationRule = serde_json::from_value(json!({
            "name": "dr", "canarySubsetName": "canary", "stableSubsetName": "stable",
            "additionalSubsetNames": ["shadow"]}))
        .unwrap();
        let vs = json!({"spec": {"http": [{"name": "primary", "route": [
            {"destination": {"host": "app", "subset": "stable"}, "weight": 90},
            {"destination": {"host": "app", "subset": "canary"}, "weight": 0},
            {"destination": {"host": "app", "subset": "shadow"}, "weight": 10}
        ]}]}});
        let patch = virtual_service_patch(&vs, &reference(&r), Some(&dr), &desired(&r, 20))
            .unwrap()
            .unwrap();
        let route = &patch["spec"]["http"][0]["route"];
        assert_eq!(route[0]["weight"], 70);
        assert_eq!(route[1]["weight"], 20);
        assert_eq!(route[2]["weight"], 10);
    }

    #[test]
    fn destination_rule_subsets_get_the_hashes_and_other_subsets_stay() {
        let r = rollout(&json!({}));
        let dr: IstioDestinationRule = serde_json::from_value(json!({
            "name": "dr", "canarySubsetName": "canary", "stableSubsetName": "stable"}))
        .unwrap();
        let object = json!({"metadata": {"name": "dr", "resourceVersion": "3"}, "spec": {
            "host": "app",
            "subsets": [
                {"name": "canary", "labels": {"app": "demo"}},
                {"name": "stable", "labels": {"app": "demo"},
                 "trafficPolicy": {"tls": {"mode": "ISTIO_MUTUAL"}}},
                {"name": "legacy", "labels": {"version": "v0"}}]}});
        let d = DesiredTraffic {
            canary_hash: "new",
            stable_hash: "old",
            ..desired(&r, 10)
        };
        let patch = destination_rule_patch(&object, &dr, &d).unwrap();
        assert_eq!(
            patch,
            json!({"metadata": {"annotations":
                       {"argo-rollouts.argoproj.io/managed-by-rollouts": "rollouts-demo"},
                       "resourceVersion": "3"},
                   "spec": {"subsets": [
                {"name": "canary", "labels": {"app": "demo", "rollouts-pod-template-hash": "new"}},
                {"name": "stable", "labels": {"app": "demo", "rollouts-pod-template-hash": "old"},
                 "trafficPolicy": {"tls": {"mode": "ISTIO_MUTUAL"}}},
                {"name": "legacy", "labels": {"version": "v0"}}]}})
        );
        let mut applied = object.clone();
        applied["spec"] = patch["spec"].clone();
        applied["metadata"]["annotations"] = patch["metadata"]["annotations"].clone();
        assert_eq!(destination_rule_patch(&applied, &dr, &d), None);
    }

    #[test]
    fn released_destination_rule_loses_annotation_and_hash_labels() {
        let managed = json!({"metadata": {"name": "dr", "resourceVersion": "9", "annotations": {
                "argo-rollouts.argoproj.io/managed-by-rollouts": "rollouts-demo",
                "team": "web"}},
            "spec": {"host": "app", "subsets": [
                {"name": "canary", "labels": {"app": "demo", "rollouts-pod-template-hash": "b"}},
                {"name": "stable", "labels": {"rollouts-pod-template-hash": "a"},
                 "trafficPolicy": {"tls": {"mode": "ISTIO_MUTUAL"}}}]}});
        assert_eq!(
            released_destination_rule_patch(&managed, "rollouts-demo"),
            Some(json!({"metadata": {"resourceVersion": "9", "annotations":
                            {"argo-rollouts.argoproj.io/managed-by-rollouts": null}},
                        "spec": {"subsets": [
                            {"name": "canary", "labels": {"app": "demo"}},
                            {"name": "stable", "labels": {},
                             "trafficPolicy": {"tls": {"mode": "ISTIO_MUTUAL"}}}]}}))
        );
        // Another Rollout's rule, or nobody's, is not touched.
        assert_eq!(released_destination_rule_patch(&managed, "other"), None);
        let unmanaged = json!({"metadata": {"name": "dr"}, "spec": {"subsets": []}});
        assert_eq!(
            released_destination_rule_patch(&unmanaged, "rollouts-demo"),
            None
        );
    }

    #[test]
    fn removal_also_drops_step_routes_missing_from_managed_routes() {
        let mut r = rollout(&json!({"managedRoutes": [{"name": "listed"}]}));
        let steps: Vec<crate::crd::CanaryStep> = serde_json::from_value(json!([
            {"setHeaderRoute": {"name": "from-step"}},
            {"setMirrorRoute": {"name": "listed"}}]))
        .unwrap();
        r.spec
            .strategy
            .as_mut()
            .unwrap()
            .canary
            .as_mut()
            .unwrap()
            .steps = Some(steps);
        let mut vs = r1_virtual_service();
        let route = |name: &str| {
            json!({"name": name, "route": [
            {"destination": {"host": "rollouts-demo-canary"}, "weight": 100}]})
        };
        let routes = vs["spec"]["http"].as_array_mut().unwrap();
        routes.insert(0, route("from-step"));
        routes.insert(0, route("listed"));
        routes.push(route("user-route"));
        let done = DesiredTraffic {
            remove_managed_routes: true,
            ..desired(&r, 0)
        };
        let patch = virtual_service_patch(&vs, &reference(&r), None, &done)
            .unwrap()
            .unwrap();
        let names: Vec<&str> = patch["spec"]["http"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| route_name(r).unwrap())
            .collect();
        assert_eq!(names, vec!["primary", "user-route"]);
    }

    #[test]
    fn header_route_is_added_first_and_removed_at_the_end() {
        let r = rollout(&json!({"managedRoutes": [{"name": "set-header-1"}]}));
        let vs = r5_virtual_service();
        let step: crate::crd::rollout::SetHeaderRoute = serde_json::from_value(json!({
            "name": "set-header-1",
            "match": [{"headerName": "agent", "headerValue": {"regex": "firefox(.*)"}}]
        }))
        .unwrap();
        let d = DesiredTraffic {
            route_step: Some(ManagedRouteStep::Header(&step)),
            ..desired(&r, 20)
        };
        let patch = virtual_service_patch(&vs, &reference(&r), None, &d)
            .unwrap()
            .unwrap();
        let http = patch["spec"]["http"].as_array().unwrap();
        assert_eq!(http.len(), 3);
        assert_eq!(
            http[0],
            json!({"name": "set-header-1",
                   "match": [{"headers": {"agent": {"regex": "firefox(.*)"}}}],
                   "route": [{"destination": {"host": "rollouts-demo-canary",
                                              "port": {"number": 8080}}, "weight": 100}]})
        );
        assert_eq!(route_name(&http[1]), Some("primary"));
        assert_eq!(http[1]["route"][1]["weight"], 20);
        // Promotion removes it again.
        let live = json!({"spec": {"http": http}});
        let done = DesiredTraffic {
            remove_managed_routes: true,
            ..desired(&r, 0)
        };
        let patch = virtual_service_patch(&live, &reference(&r), None, &done)
            .unwrap()
            .unwrap();
        let http = patch["spec"]["http"].as_array().unwrap();
        assert_eq!(http.len(), 2);
        assert_eq!(route_name(&http[0]), Some("primary"));
        assert_eq!(http[0]["route"][0]["weight"], 100);
    }

    #[test]
    fn mirror_route_is_prepended_with_the_weighted_destinations() {
        let r = rollout(&json!({"managedRoutes": [{"name": "mirror-route-1"}]}));
        let vs = r1_virtual_service();
        let step: crate::crd::rollout::SetMirrorRoute = serde_json::from_value(json!({
            "name": "mirror-route-1", "percentage": 80,
            "match": [{"method": {"exact": "GET"}, "path": {"prefix": "/"}}]
        }))
        .unwrap();
        let d = DesiredTraffic {
            route_step: Some(ManagedRouteStep::Mirror(&step)),
            ..desired(&r, 20)
        };
        let patch = virtual_service_patch(&vs, &reference(&r), None, &d)
            .unwrap()
            .unwrap();
        let http = patch["spec"]["http"].as_array().unwrap();
        assert_eq!(route_name(&http[0]), Some("mirror-route-1"));
        assert_eq!(http[0]["mirror"], json!({"host": "rollouts-demo-canary"}));
        assert_eq!(http[0]["mirrorPercentage"], json!({"value": 80}));
        assert_eq!(
            http[0]["match"],
            json!([{"method": {"exact": "GET"}, "uri": {"prefix": "/"}}])
        );
        // The mirror route carries the weighted split too.
        assert_eq!(weights(&http[0]), weights(&http[1]));
        assert_eq!(http[1]["route"][1]["weight"], 20);
    }

    #[test]
    fn validation_names_the_missing_route_and_destination() {
        let r = rollout(&json!({}));
        let path = "spec.strategy.canary.trafficRouting.istio.virtualService";
        let no_route = json!({"spec": {"http": [{"name": "other", "route": []}]}});
        let err = validate_virtual_service(
            &no_route,
            &reference(&r),
            None,
            "rollouts-demo-canary",
            "rollouts-demo-stable",
            path,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "spec.strategy.canary.trafficRouting.istio.virtualService.routes[0]: Invalid value: \
             \"primary\": HTTP Route 'primary' is not found in the defined Virtual Service."
        );
        let no_canary = json!({"spec": {"http": [{"name": "primary", "route": [
            {"destination": {"host": "rollouts-demo-stable"}, "weight": 100}]}]}});
        let err = validate_virtual_service(
            &no_canary,
            &reference(&r),
            None,
            "rollouts-demo-canary",
            "rollouts-demo-stable",
            path,
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .ends_with("HTTP Route 'primary' has no destination with host 'rollouts-demo-canary' (the canary destination)"),
            "{err}"
        );
        validate_virtual_service(
            &r5_virtual_service(),
            &reference(&r),
            None,
            "rollouts-demo-canary",
            "rollouts-demo-stable",
            path,
        )
        .unwrap();
        let two_unnamed_free = json!({"spec": {"http": [
            {"name": "a", "route": []}, {"name": "b", "route": []}]}});
        let mut unnamed = reference(&r);
        unnamed.routes = None;
        assert!(
            validate_virtual_service(&two_unnamed_free, &unnamed, None, "c", "s", path).is_err()
        );
    }
}
