//! The sandbox's traffic simulator: synthetic requests routed the way the cluster's objects say,
//! counted per destination Service and version, so that metrics (see [`super::metrics_export`])
//! and analysis see a canary that really takes its share of traffic.
//!
//! The routing is pure: [`service_flows`] turns a [`ClusterView`] (plain JSON objects) into
//! request rates per Service, reading the weights the traffic router objects carry *now*
//! (VirtualService HTTP route weights, the ALB forward action annotation, an nginx canary
//! Ingress's `canary-weight`, TrafficSplit backends); a Service no router sends to is an entry
//! point of its own. [`service_backends`] then splits a Service's requests over its ready pods by
//! `rollouts-pod-template-hash`, which is also the whole story when no router exists (weights by
//! pod counts). Per-version behaviour comes from the namespace annotations
//! [`ERROR_RATE_ANNOTATION`] and [`LATENCY_ANNOTATION`], keyed by container image, and a user
//! "curling a Service directly" from the Service annotation [`DIRECT_RPS_ANNOTATION`].
//!
//! [`spawn`] is the thin shell: once per tick it lists the objects through a `kube::Client` and
//! adds the tick's requests to shared [`TrafficStats`]. Counts are deterministic (fractional
//! carries, no random numbers), so the same cluster always yields the same numbers.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject, ListParams};
use serde_json::Value;

/// Namespace annotation: `IMAGE=RATE[,IMAGE=RATE...]`, the fraction (0..1) of requests that
/// pods running IMAGE answer with HTTP 500.
pub const ERROR_RATE_ANNOTATION: &str = "sandbox.rolltop.dev/http-error-rate";
/// Namespace annotation: `IMAGE=MS[,...]`, the median latency of pods running IMAGE.
pub const LATENCY_ANNOTATION: &str = "sandbox.rolltop.dev/http-latency-ms";
/// Service annotation: requests per second a user sends straight to this Service, bypassing
/// any router (like `curl` against the Service from inside the mesh).
pub const DIRECT_RPS_ANNOTATION: &str = "sandbox.rolltop.dev/direct-rps";
/// The share of an entry point's requests that carry the header a header-matched route (an
/// Istio `match.headers`, an ALB `conditions.*` annotation) waits for.
pub const HEADER_SHARE: f64 = 0.1;
/// Median latency of a version no annotation describes.
pub const DEFAULT_LATENCY_MS: f64 = 25.0;
/// Namespaces whose Services are infrastructure, never traffic entry points.
const SYSTEM_NAMESPACES: [&str; 3] = ["kube-system", "istio-system", "rolltop-system"];

/// The objects the simulator reads, as plain JSON (lenient: a missing field means "none").
#[derive(Debug, Clone, Default)]
pub struct ClusterView {
    pub namespaces: Vec<Value>,
    pub services: Vec<Value>,
    pub pods: Vec<Value>,
    pub virtual_services: Vec<Value>,
    pub ingresses: Vec<Value>,
    pub traffic_splits: Vec<Value>,
}

/// Requests per second arriving at one Service.
#[derive(Debug, Clone, PartialEq)]
pub struct Flow {
    pub namespace: String,
    pub service: String,
    pub rps: f64,
}

/// One version (pod-template hash) behind a Service, with its ready pods.
#[derive(Debug, Clone, PartialEq)]
pub struct Backend {
    /// `rollouts-pod-template-hash` (or `pod-template-hash`), empty when unlabelled.
    pub hash: String,
    /// The pods' owner (a ReplicaSet), Istio's `destination_workload`.
    pub workload: String,
    pub image: String,
    pub ready_pods: usize,
    pub error_rate: f64,
    pub latency_ms: f64,
}

fn text<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

fn items<'a>(value: &'a Value, pointer: &str) -> &'a [Value] {
    value
        .pointer(pointer)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn annotation<'a>(object: &'a Value, key: &str) -> Option<&'a str> {
    object
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(key))
        .and_then(Value::as_str)
}

/// Integer or string weight (ALB writes numbers; some users quote them).
fn weight_of(value: Option<&Value>) -> Option<f64> {
    match value? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Normalises destination weights: missing weights count 0 unless every one is missing, then
/// they share equally (a single destination without a weight takes everything, as in Istio).
pub fn normalise(weights: &[Option<f64>]) -> Vec<f64> {
    if weights.iter().all(Option::is_none) {
        let n = weights.len().max(1) as f64;
        return weights.iter().map(|_| 1.0 / n).collect();
    }
    let raw: Vec<f64> = weights.iter().map(|w| w.unwrap_or(0.0).max(0.0)).collect();
    let total: f64 = raw.iter().sum();
    if total <= 0.0 {
        return raw.iter().map(|_| 0.0).collect();
    }
    raw.iter().map(|w| w / total).collect()
}

/// `svc`, `svc.ns`, `svc.ns.svc.cluster.local` -> (namespace, service).
fn host_service(host: &str, default_namespace: &str) -> (String, String) {
    let mut parts = host.split('.');
    let name = parts.next().unwrap_or_default().to_owned();
    let namespace = parts
        .next()
        .filter(|ns| !ns.is_empty())
        .unwrap_or(default_namespace)
        .to_owned();
    (namespace, name)
}

/// How one entry point's requests are shared among routes: header routes take
/// [`HEADER_SHARE`] each, the first route without a header condition takes the rest, other
/// routes (other paths) are not exercised.
fn route_shares(header_routes: &[bool]) -> Vec<f64> {
    let headers = header_routes.iter().filter(|h| **h).count() as f64;
    let rest = (1.0 - HEADER_SHARE * headers).max(0.0);
    let mut default_taken = false;
    header_routes
        .iter()
        .map(|is_header| {
            if *is_header {
                HEADER_SHARE
            } else if default_taken {
                0.0
            } else {
                default_taken = true;
                rest
            }
        })
        .collect()
}

/// The weighted Service destinations of a VirtualService's HTTP routes, with each route's share.
pub fn virtual_service_split(vs: &Value) -> Vec<(String, String, f64)> {
    let namespace = text(vs, "/metadata/namespace");
    let routes = items(vs, "/spec/http");
    let header_routes: Vec<bool> = routes
        .iter()
        .map(|route| {
            items(route, "/match")
                .iter()
                .any(|m| m.get("headers").is_some())
        })
        .collect();
    let shares = route_shares(&header_routes);
    let mut out = Vec::new();
    for (route, share) in routes.iter().zip(shares) {
        let destinations = items(route, "/route");
        let weights: Vec<Option<f64>> = destinations
            .iter()
            .map(|d| weight_of(d.get("weight")))
            .collect();
        for (destination, weight) in destinations.iter().zip(normalise(&weights)) {
            let host = text(destination, "/destination/host");
            let (ns, service) = host_service(host, namespace);
            out.push((ns, service, share * weight));
        }
    }
    out
}

/// One ALB rule path: whether a header condition guards it, and its forward targets with their
/// optional weights.
type AlbRoute = (bool, Vec<(String, Option<f64>)>);

/// The ALB controller's view of an Ingress: per rule path, a forward action (from the
/// `actions.<name>` annotation when the backend port is `use-annotation`) or a plain backend.
pub fn alb_split(ingress: &Value) -> Vec<(String, String, f64)> {
    let namespace = text(ingress, "/metadata/namespace");
    let mut routes: Vec<AlbRoute> = Vec::new();
    for rule in items(ingress, "/spec/rules") {
        for path in items(rule, "/http/paths") {
            let name = text(path, "/backend/service/name");
            let use_annotation = text(path, "/backend/service/port/name") == "use-annotation";
            let conditioned = annotation(
                ingress,
                &format!("alb.ingress.kubernetes.io/conditions.{name}"),
            )
            .is_some();
            let action = annotation(
                ingress,
                &format!("alb.ingress.kubernetes.io/actions.{name}"),
            )
            .and_then(|a| serde_json::from_str::<Value>(a).ok());
            let targets = match (use_annotation, action) {
                (true, Some(action)) => {
                    if text(&action, "/Type") != "forward" {
                        continue; // redirect, fixed-response: no backend is hit
                    }
                    let groups = items(&action, "/ForwardConfig/TargetGroups");
                    let from_groups: Vec<(String, Option<f64>)> = groups
                        .iter()
                        .map(|g| {
                            (
                                text(g, "/ServiceName").to_owned(),
                                weight_of(g.get("Weight")),
                            )
                        })
                        .filter(|(service, _)| !service.is_empty())
                        .collect();
                    if from_groups.is_empty() {
                        let service = text(&action, "/ServiceName");
                        if service.is_empty() {
                            continue;
                        }
                        vec![(service.to_owned(), None)]
                    } else {
                        from_groups
                    }
                }
                // No action written yet: the rule names the Service itself.
                _ => vec![(name.to_owned(), None)],
            };
            routes.push((conditioned, targets));
        }
    }
    let header_routes: Vec<bool> = routes.iter().map(|(h, _)| *h).collect();
    let mut out = Vec::new();
    for ((_, targets), share) in routes.iter().zip(route_shares(&header_routes)) {
        let weights: Vec<Option<f64>> = targets.iter().map(|(_, w)| *w).collect();
        for ((service, _), weight) in targets.iter().zip(normalise(&weights)) {
            out.push((namespace.to_owned(), service.clone(), share * weight));
        }
    }
    out
}

fn is_alb(ingress: &Value) -> bool {
    annotation(ingress, "kubernetes.io/ingress.class") == Some("alb")
        || text(ingress, "/spec/ingressClassName") == "alb"
}

fn is_nginx_canary(ingress: &Value) -> bool {
    annotation(ingress, "nginx.ingress.kubernetes.io/canary") == Some("true")
}

fn ingress_hosts(ingress: &Value) -> Vec<&str> {
    items(ingress, "/spec/rules")
        .iter()
        .map(|r| text(r, "/host"))
        .collect()
}

fn first_backend(ingress: &Value) -> Option<&str> {
    items(ingress, "/spec/rules")
        .iter()
        .flat_map(|r| items(r, "/http/paths"))
        .map(|p| text(p, "/backend/service/name"))
        .find(|s| !s.is_empty())
}

/// An nginx (or any non-ALB) Ingress and the canary Ingresses that share its hosts: the canary
/// gets `canary-weight` percent (of `canary-weight-total`, default 100).
pub fn nginx_split(primary: &Value, all: &[Value]) -> Vec<(String, String, f64)> {
    let namespace = text(primary, "/metadata/namespace");
    let Some(stable) = first_backend(primary) else {
        return Vec::new();
    };
    let hosts = ingress_hosts(primary);
    let mut out = Vec::new();
    let mut canary_total = 0.0;
    for canary in all.iter().filter(|i| {
        is_nginx_canary(i)
            && text(i, "/metadata/namespace") == namespace
            && ingress_hosts(i).iter().any(|h| hosts.contains(h))
    }) {
        let weight = annotation(canary, "nginx.ingress.kubernetes.io/canary-weight")
            .and_then(|w| w.trim().parse::<f64>().ok())
            .unwrap_or(0.0);
        let total = annotation(canary, "nginx.ingress.kubernetes.io/canary-weight-total")
            .and_then(|w| w.trim().parse::<f64>().ok())
            .filter(|t| *t > 0.0)
            .unwrap_or(100.0);
        let share = (weight / total).clamp(0.0, 1.0 - canary_total);
        if let Some(service) = first_backend(canary) {
            canary_total += share;
            out.push((namespace.to_owned(), service.to_owned(), share));
        }
    }
    out.insert(
        0,
        (namespace.to_owned(), stable.to_owned(), 1.0 - canary_total),
    );
    out
}

/// An SMI TrafficSplit: the root Service's requests shared by the backends' weights.
pub fn traffic_split_split(split: &Value) -> Vec<(String, String, f64)> {
    let namespace = text(split, "/metadata/namespace");
    let backends = items(split, "/spec/backends");
    let weights: Vec<Option<f64>> = backends
        .iter()
        .map(|b| weight_of(b.get("weight")))
        .collect();
    backends
        .iter()
        .zip(normalise(&weights))
        .map(|(b, w)| (namespace.to_owned(), text(b, "/service").to_owned(), w))
        .collect()
}

fn service_key(service: &Value) -> (String, String) {
    (
        text(service, "/metadata/namespace").to_owned(),
        text(service, "/metadata/name").to_owned(),
    )
}

/// Requests per second per Service: each router object and each Service no router sends to is
/// an entry point receiving `entry_rps`; Services with [`DIRECT_RPS_ANNOTATION`] get that much
/// more. Destinations that are not existing Services are dropped (they have no pods to count).
pub fn service_flows(view: &ClusterView, entry_rps: f64) -> Vec<Flow> {
    let known: BTreeMap<(String, String), &Value> =
        view.services.iter().map(|s| (service_key(s), s)).collect();
    let mut splits: Vec<Vec<(String, String, f64)>> = Vec::new();
    let mut routed: Vec<(String, String)> = Vec::new();
    for vs in &view.virtual_services {
        splits.push(virtual_service_split(vs));
    }
    for ingress in &view.ingresses {
        if is_alb(ingress) {
            splits.push(alb_split(ingress));
        } else if !is_nginx_canary(ingress) {
            splits.push(nginx_split(ingress, &view.ingresses));
        }
    }
    for split in &view.traffic_splits {
        let namespace = text(split, "/metadata/namespace").to_owned();
        routed.push((namespace, text(split, "/spec/service").to_owned()));
        splits.push(traffic_split_split(split));
    }
    let mut rates: BTreeMap<(String, String), f64> = BTreeMap::new();
    for split in &splits {
        for (namespace, service, share) in split {
            let key = (namespace.clone(), service.clone());
            routed.push(key.clone());
            if known.contains_key(&key) {
                *rates.entry(key).or_default() += entry_rps * share;
            }
        }
    }
    for (key, service) in &known {
        let has_selector = service
            .pointer("/spec/selector")
            .and_then(Value::as_object)
            .is_some_and(|s| !s.is_empty());
        if has_selector && !routed.contains(key) && !SYSTEM_NAMESPACES.contains(&key.0.as_str()) {
            *rates.entry(key.clone()).or_default() += entry_rps;
        }
        if let Some(direct) = annotation(service, DIRECT_RPS_ANNOTATION)
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|v| v.is_finite() && *v > 0.0)
        {
            *rates.entry(key.clone()).or_default() += direct;
        }
    }
    rates
        .into_iter()
        .filter(|(_, rps)| *rps > 0.0)
        .map(|((namespace, service), rps)| Flow {
            namespace,
            service,
            rps,
        })
        .collect()
}

/// `IMAGE=VALUE,IMAGE=VALUE` -> the value for `image`.
pub fn image_setting(annotation_value: &str, image: &str) -> Option<f64> {
    annotation_value.split(',').find_map(|pair| {
        let (key, value) = pair.trim().rsplit_once('=')?;
        (key.trim() == image)
            .then(|| value.trim().parse::<f64>().ok())
            .flatten()
    })
}

fn pod_ready(pod: &Value) -> bool {
    pod.pointer("/metadata/deletionTimestamp").is_none()
        && items(pod, "/status/conditions")
            .iter()
            .any(|c| text(c, "/type") == "Ready" && text(c, "/status") == "True")
}

fn selects(service: &Value, pod: &Value) -> bool {
    let Some(selector) = service.pointer("/spec/selector").and_then(Value::as_object) else {
        return false;
    };
    !selector.is_empty()
        && selector.iter().all(|(key, value)| {
            pod.pointer("/metadata/labels")
                .and_then(|l| l.get(key))
                .is_some_and(|v| v == value)
        })
}

/// The ready versions behind a Service, grouped by pod-template hash, with each version's error
/// rate and latency from the namespace annotations.
pub fn service_backends(view: &ClusterView, namespace: &str, service: &str) -> Vec<Backend> {
    let Some(svc) = view
        .services
        .iter()
        .find(|s| service_key(s) == (namespace.to_owned(), service.to_owned()))
    else {
        return Vec::new();
    };
    let ns_object = view
        .namespaces
        .iter()
        .find(|n| text(n, "/metadata/name") == namespace);
    let errors = ns_object.and_then(|n| annotation(n, ERROR_RATE_ANNOTATION));
    let latencies = ns_object.and_then(|n| annotation(n, LATENCY_ANNOTATION));
    let mut backends: BTreeMap<String, Backend> = BTreeMap::new();
    for pod in view
        .pods
        .iter()
        .filter(|p| text(p, "/metadata/namespace") == namespace && pod_ready(p) && selects(svc, p))
    {
        let labels = pod.pointer("/metadata/labels");
        let hash = labels
            .and_then(|l| {
                l.get("rollouts-pod-template-hash")
                    .or_else(|| l.get("pod-template-hash"))
            })
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let workload = items(pod, "/metadata/ownerReferences")
            .first()
            .map_or_else(|| text(pod, "/metadata/name"), |o| text(o, "/name"))
            .to_owned();
        let image = text(pod, "/spec/containers/0/image").to_owned();
        let error_rate = errors
            .and_then(|a| image_setting(a, &image))
            .unwrap_or(0.0)
            .clamp(0.0, 1.0);
        let latency_ms = latencies
            .and_then(|a| image_setting(a, &image))
            .filter(|l| l.is_finite() && *l > 0.0)
            .unwrap_or(DEFAULT_LATENCY_MS);
        backends
            .entry(format!("{hash}/{workload}"))
            .and_modify(|b| b.ready_pods += 1)
            .or_insert(Backend {
                hash,
                workload,
                image,
                ready_pods: 1,
                error_rate,
                latency_ms,
            });
    }
    backends.into_values().collect()
}

/// One counted series: requests that reached `service` and were answered by `workload`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SeriesKey {
    pub namespace: String,
    pub service: String,
    pub workload: String,
    pub hash: String,
    pub code: u16,
}

/// Upper bounds (ms) of the latency histogram, Istio's default buckets up to 10 s.
pub const LATENCY_BUCKETS_MS: [f64; 13] = [
    1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0,
];

/// Requests and their latency distribution for one series (cumulative, as Prometheus wants).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Histogram {
    pub count: u64,
    pub sum_ms: f64,
    /// Non-cumulative counts per bucket of [`LATENCY_BUCKETS_MS`], then the overflow.
    pub buckets: [u64; LATENCY_BUCKETS_MS.len() + 1],
}

impl Histogram {
    fn observe(&mut self, latency_ms: f64) {
        self.count += 1;
        self.sum_ms += latency_ms;
        let index = LATENCY_BUCKETS_MS
            .iter()
            .position(|bound| latency_ms <= *bound)
            .unwrap_or(LATENCY_BUCKETS_MS.len());
        self.buckets[index] += 1;
    }
}

/// Cumulative totals of one Service at one moment, kept for windowed JSON answers.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Mark {
    at_secs: f64,
    requests: u64,
    errors_500: u64,
    errors_5xx: u64,
}

/// A Service's requests over a window (see [`TrafficStats::window`]).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WindowTotals {
    pub namespace: String,
    pub service: String,
    pub window_seconds: f64,
    pub requests: u64,
    /// HTTP 500 answers (the example app's failure).
    pub errors: u64,
    pub server_errors: u64,
    /// Non-5xx share of requests; `None` (JSON null) when there were none.
    pub success_rate: Option<f64>,
}

/// Every counter the simulator keeps; read by the metrics exporter.
#[derive(Debug, Default)]
pub struct TrafficStats {
    pub series: BTreeMap<SeriesKey, Histogram>,
    history: HashMap<(String, String), VecDeque<Mark>>,
    /// Fractional requests and errors carried to the next tick, per (service, version).
    carry: HashMap<(String, String, String), (f64, f64, u64)>,
    /// Services that have had ready pods: only those count 503s when they have none.
    served: std::collections::HashSet<(String, String)>,
}

/// History kept per Service for windowed answers.
const HISTORY_SECS: f64 = 30.0 * 60.0;
/// Latency spread around a version's median, cycled request by request (deterministic).
const LATENCY_SPREAD: [f64; 8] = [0.5, 0.7, 0.9, 1.0, 1.0, 1.2, 1.6, 3.0];

impl TrafficStats {
    /// Adds `dt_secs` of traffic for the flows over their backends, at time `now_secs`.
    pub fn advance(&mut self, view: &ClusterView, flows: &[Flow], dt_secs: f64, now_secs: f64) {
        for flow in flows {
            let backends = service_backends(view, &flow.namespace, &flow.service);
            let ready: usize = backends.iter().map(|b| b.ready_pods).sum();
            let key = (flow.namespace.clone(), flow.service.clone());
            if ready > 0 {
                self.served.insert(key);
            } else if !self.served.contains(&key) {
                // Nobody sends traffic to an app that was never up (a fresh scenario).
                continue;
            }
            if ready == 0 {
                // No healthy upstream any more: the mesh answers 503 itself.
                self.count(flow, "", "unknown", 503, flow.rps * dt_secs, 0.0, 0.0);
                continue;
            }
            for backend in &backends {
                let share = backend.ready_pods as f64 / ready as f64;
                self.count(
                    flow,
                    &backend.hash,
                    &backend.workload,
                    200,
                    flow.rps * dt_secs * share,
                    backend.error_rate,
                    backend.latency_ms,
                );
            }
        }
        self.mark(now_secs);
    }

    #[allow(clippy::too_many_arguments)]
    fn count(
        &mut self,
        flow: &Flow,
        hash: &str,
        workload: &str,
        code: u16,
        requests: f64,
        error_rate: f64,
        latency_ms: f64,
    ) {
        let carry_key = (
            format!("{}/{}", flow.namespace, flow.service),
            hash.to_owned(),
            workload.to_owned(),
        );
        let carry = self.carry.entry(carry_key).or_insert((0.0, 0.0, 0));
        carry.0 += requests;
        let whole = carry.0.floor();
        carry.0 -= whole;
        let whole = whole as u64;
        carry.1 += whole as f64 * error_rate;
        let errors = (carry.1.floor() as u64).min(whole);
        carry.1 -= errors as f64;
        let start = carry.2;
        carry.2 += whole;
        let key = |code| SeriesKey {
            namespace: flow.namespace.clone(),
            service: flow.service.clone(),
            workload: workload.to_owned(),
            hash: hash.to_owned(),
            code,
        };
        for i in 0..whole {
            let failed = i < errors;
            let code = if failed { 500 } else { code };
            let spread = LATENCY_SPREAD[((start + i) % LATENCY_SPREAD.len() as u64) as usize];
            // Failures answer fast; 503 from the mesh is almost free.
            let latency = match code {
                503 => 1.0,
                500 => latency_ms * 0.2 * spread,
                _ => latency_ms * spread,
            };
            self.series.entry(key(code)).or_default().observe(latency);
        }
    }

    fn mark(&mut self, now_secs: f64) {
        let mut totals: HashMap<(String, String), Mark> = HashMap::new();
        for (key, histogram) in &self.series {
            let mark = totals
                .entry((key.namespace.clone(), key.service.clone()))
                .or_insert(Mark {
                    at_secs: now_secs,
                    requests: 0,
                    errors_500: 0,
                    errors_5xx: 0,
                });
            mark.requests += histogram.count;
            if key.code == 500 {
                mark.errors_500 += histogram.count;
            }
            if key.code >= 500 {
                mark.errors_5xx += histogram.count;
            }
        }
        for (key, mark) in totals {
            let history = self.history.entry(key).or_default();
            history.push_back(mark);
            while history
                .front()
                .is_some_and(|m| now_secs - m.at_secs > HISTORY_SECS)
            {
                history.pop_front();
            }
        }
    }

    /// A Service's requests and errors over the last `window_secs` before its newest mark (or
    /// since the first mark, when the history is shorter). `None` for a Service never seen.
    pub fn window(&self, namespace: &str, service: &str, window_secs: f64) -> Option<WindowTotals> {
        let history = self
            .history
            .get(&(namespace.to_owned(), service.to_owned()))?;
        let newest = history.back()?;
        let oldest = history
            .iter()
            .rev()
            .find(|m| newest.at_secs - m.at_secs >= window_secs)
            .or_else(|| history.front())?;
        let requests = newest.requests - oldest.requests;
        let errors_5xx = newest.errors_5xx - oldest.errors_5xx;
        Some(WindowTotals {
            namespace: namespace.to_owned(),
            service: service.to_owned(),
            window_seconds: window_secs,
            requests,
            errors: newest.errors_500 - oldest.errors_500,
            server_errors: errors_5xx,
            success_rate: (requests > 0).then(|| (requests - errors_5xx) as f64 / requests as f64),
        })
    }
}

/// Shared counters, written by the simulator and read by the exporter.
pub type SharedStats = Arc<Mutex<TrafficStats>>;

/// Timing of the simulator.
#[derive(Debug, Clone, Copy)]
pub struct TrafficConfig {
    /// Requests per second each entry point receives.
    pub entry_rps: f64,
    /// How often the objects are re-read and requests added.
    pub tick: Duration,
}

impl Default for TrafficConfig {
    fn default() -> Self {
        Self {
            entry_rps: 10.0,
            tick: Duration::from_secs(1),
        }
    }
}

/// Why one tick could not read the cluster.
#[derive(Debug, thiserror::Error)]
#[error("listing {kind} for the traffic simulator: {source}")]
pub struct ReadClusterError {
    kind: &'static str,
    source: kube::Error,
}

fn resource(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource {
        group: group.to_owned(),
        version: version.to_owned(),
        api_version: if group.is_empty() {
            version.to_owned()
        } else {
            format!("{group}/{version}")
        },
        kind: kind.to_owned(),
        plural: plural.to_owned(),
    }
}

async fn list(
    client: &Client,
    resource: &ApiResource,
    optional: bool,
) -> Result<Vec<Value>, ReadClusterError> {
    let api: Api<DynamicObject> = Api::all_with(client.clone(), resource);
    match api.list(&ListParams::default()).await {
        Ok(list) => Ok(list
            .items
            .into_iter()
            .filter_map(|o| serde_json::to_value(o).ok())
            .collect()),
        // An optional kind whose CRD is not installed simply routes nothing.
        Err(kube::Error::Api(status)) if optional && status.code == 404 => Ok(Vec::new()),
        Err(source) => Err(ReadClusterError {
            kind: if optional {
                "router objects"
            } else {
                "core objects"
            },
            source,
        }),
    }
}

/// Reads everything [`service_flows`] and [`service_backends`] look at.
pub async fn read_view(client: &Client) -> Result<ClusterView, ReadClusterError> {
    Ok(ClusterView {
        namespaces: list(
            client,
            &resource("", "v1", "Namespace", "namespaces"),
            false,
        )
        .await?,
        services: list(client, &resource("", "v1", "Service", "services"), false).await?,
        pods: list(client, &resource("", "v1", "Pod", "pods"), false).await?,
        virtual_services: list(
            client,
            &resource(
                "networking.istio.io",
                "v1beta1",
                "VirtualService",
                "virtualservices",
            ),
            true,
        )
        .await?,
        ingresses: list(
            client,
            &resource("networking.k8s.io", "v1", "Ingress", "ingresses"),
            true,
        )
        .await?,
        traffic_splits: list(
            client,
            &resource(
                "split.smi-spec.io",
                "v1alpha1",
                "TrafficSplit",
                "trafficsplits",
            ),
            true,
        )
        .await?,
    })
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Starts the simulator; it runs until the handle is aborted or dropped with the runtime.
pub fn spawn(client: Client, config: TrafficConfig) -> (SharedStats, tokio::task::JoinHandle<()>) {
    let stats: SharedStats = Arc::default();
    let shared = Arc::clone(&stats);
    let task = tokio::spawn(async move {
        let mut ticker = tokio::time::interval(config.tick);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last = None::<f64>;
        loop {
            ticker.tick().await;
            let view = match read_view(&client).await {
                Ok(view) => view,
                Err(error) => {
                    tracing::debug!(%error, "traffic tick skipped");
                    continue;
                }
            };
            let now = unix_now();
            // The first tick only sets the clock: traffic is counted for time that passed.
            let dt = last.map_or(0.0, |l| (now - l).clamp(0.0, 10.0));
            last = Some(now);
            let flows = service_flows(&view, config.entry_rps);
            if let Ok(mut stats) = shared.lock() {
                stats.advance(&view, &flows, dt, now);
            }
        }
    });
    (stats, task)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::needless_pass_by_value)]
mod tests {
    use super::*;
    use serde_json::json;

    fn service(ns: &str, name: &str, selector: Value) -> Value {
        json!({"metadata": {"namespace": ns, "name": name}, "spec": {"selector": selector}})
    }

    fn pod(ns: &str, name: &str, labels: Value, image: &str, ready: bool) -> Value {
        json!({
            "metadata": {"namespace": ns, "name": name, "labels": labels,
                         "ownerReferences": [{"name": format!("rs-{}", labels["rollouts-pod-template-hash"].as_str().unwrap_or(""))}]},
            "spec": {"containers": [{"image": image}]},
            "status": {"conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]}
        })
    }

    fn rate(flows: &[Flow], service: &str) -> f64 {
        flows
            .iter()
            .filter(|f| f.service == service)
            .map(|f| f.rps)
            .sum()
    }

    #[test]
    fn weights_normalise_like_istio() {
        assert_eq!(normalise(&[Some(95.0), Some(5.0)]), vec![0.95, 0.05]);
        assert_eq!(normalise(&[None]), vec![1.0]);
        assert_eq!(normalise(&[None, None]), vec![0.5, 0.5]);
        assert_eq!(normalise(&[Some(100.0), None]), vec![1.0, 0.0]);
        assert_eq!(normalise(&[Some(0.0), Some(0.0)]), vec![0.0, 0.0]);
    }

    #[test]
    fn virtual_service_weights_split_the_entry_rate() {
        let view = ClusterView {
            services: vec![
                service("argo-apl", "rollouts-demo-stable", json!({"app": "r"})),
                service("argo-apl", "rollouts-demo-canary", json!({"app": "r"})),
            ],
            virtual_services: vec![json!({
                "metadata": {"namespace": "argo-apl", "name": "rollouts-demo-vsvc"},
                "spec": {"http": [{"name": "primary", "route": [
                    {"destination": {"host": "rollouts-demo-stable"}, "weight": 95},
                    {"destination": {"host": "rollouts-demo-canary"}, "weight": 5}]}]}
            })],
            ..ClusterView::default()
        };
        let flows = service_flows(&view, 100.0);
        assert!((rate(&flows, "rollouts-demo-stable") - 95.0).abs() < 1e-9);
        assert!((rate(&flows, "rollouts-demo-canary") - 5.0).abs() < 1e-9);
    }

    #[test]
    fn header_routes_take_their_share_and_other_paths_none() {
        let vs = json!({
            "metadata": {"namespace": "sample-ns"},
            "spec": {"http": [
                {"match": [{"headers": {"x-version": {"exact": "blue"}}}],
                 "route": [{"destination": {"host": "nginx-preview"}}]},
                {"route": [{"destination": {"host": "nginx.sample-ns.svc.cluster.local"}}]},
                {"match": [{"uri": {"prefix": "/api"}}], "route": [{"destination": {"host": "prometheus"}}]}
            ]}
        });
        let split = virtual_service_split(&vs);
        assert_eq!(
            split,
            vec![
                ("sample-ns".into(), "nginx-preview".into(), 0.1),
                ("sample-ns".into(), "nginx".into(), 0.9),
                ("sample-ns".into(), "prometheus".into(), 0.0),
            ]
        );
    }

    #[test]
    fn alb_forward_annotation_weights_and_header_condition() {
        let ingress = json!({
            "metadata": {"namespace": "tomozo", "annotations": {
                "kubernetes.io/ingress.class": "alb",
                "alb.ingress.kubernetes.io/actions.ssl-redirect": "{\"Type\": \"redirect\"}",
                "alb.ingress.kubernetes.io/conditions.x-canary-header": "[]",
                "alb.ingress.kubernetes.io/actions.x-canary-header": "{\"Type\":\"forward\",\"ForwardConfig\":{\"TargetGroups\":[{\"ServiceName\":\"tomozo-canary\",\"ServicePort\":\"8080\"}]}}",
                "alb.ingress.kubernetes.io/actions.tomozo-stable": "{\"Type\":\"forward\",\"ForwardConfig\":{\"TargetGroups\":[{\"ServiceName\":\"tomozo-canary\",\"ServicePort\":\"8080\",\"Weight\":10},{\"ServiceName\":\"tomozo-stable\",\"ServicePort\":\"8080\",\"Weight\":90}]}}"
            }},
            "spec": {"rules": [{"http": {"paths": [
                {"backend": {"service": {"name": "ssl-redirect", "port": {"name": "use-annotation"}}}},
                {"backend": {"service": {"name": "x-canary-header", "port": {"name": "use-annotation"}}}},
                {"backend": {"service": {"name": "tomozo-stable", "port": {"name": "use-annotation"}}}}
            ]}}]}
        });
        let split = alb_split(&ingress);
        let canary: f64 = split
            .iter()
            .filter(|s| s.1 == "tomozo-canary")
            .map(|s| s.2)
            .sum();
        let stable: f64 = split
            .iter()
            .filter(|s| s.1 == "tomozo-stable")
            .map(|s| s.2)
            .sum();
        // 10 % by header, plus 10 % of the other 90 %.
        assert!((canary - 0.19).abs() < 1e-9, "{split:?}");
        assert!((stable - 0.81).abs() < 1e-9, "{split:?}");
    }

    #[test]
    fn alb_without_an_action_yet_forwards_to_the_named_service() {
        let ingress = json!({
            "metadata": {"namespace": "t", "annotations": {"kubernetes.io/ingress.class": "alb"}},
            "spec": {"rules": [{"http": {"paths": [
                {"backend": {"service": {"name": "tomozo-stable", "port": {"name": "use-annotation"}}}}]}}]}
        });
        assert_eq!(
            alb_split(&ingress),
            vec![("t".into(), "tomozo-stable".into(), 1.0)]
        );
    }

    #[test]
    fn nginx_canary_ingress_takes_canary_weight() {
        let primary = json!({"metadata": {"namespace": "n", "name": "app"},
            "spec": {"rules": [{"host": "a.example", "http": {"paths": [{"backend": {"service": {"name": "stable"}}}]}}]}});
        let canary = json!({"metadata": {"namespace": "n", "name": "app-canary", "annotations": {
                "nginx.ingress.kubernetes.io/canary": "true",
                "nginx.ingress.kubernetes.io/canary-weight": "20"}},
            "spec": {"rules": [{"host": "a.example", "http": {"paths": [{"backend": {"service": {"name": "canary"}}}]}}]}});
        let all = vec![primary.clone(), canary];
        let split = nginx_split(&primary, &all);
        assert_eq!(split.len(), 2);
        assert!((split[0].2 - 0.8).abs() < 1e-9 && split[0].1 == "stable");
        assert!((split[1].2 - 0.2).abs() < 1e-9 && split[1].1 == "canary");
    }

    #[test]
    fn traffic_split_backends_and_root_is_not_an_entry() {
        let view = ClusterView {
            services: vec![
                service("n", "root", json!({"app": "a"})),
                service("n", "stable", json!({"app": "a"})),
                service("n", "canary", json!({"app": "a"})),
            ],
            traffic_splits: vec![
                json!({"metadata": {"namespace": "n"}, "spec": {"service": "root",
                "backends": [{"service": "stable", "weight": 70}, {"service": "canary", "weight": 30}]}}),
            ],
            ..ClusterView::default()
        };
        let flows = service_flows(&view, 10.0);
        assert!((rate(&flows, "stable") - 7.0).abs() < 1e-9);
        assert!((rate(&flows, "canary") - 3.0).abs() < 1e-9);
        assert!(rate(&flows, "root").abs() < 1e-9);
    }

    #[test]
    fn unrouted_services_are_entries_and_direct_hits_add_up() {
        let mut canary = service("k", "c", json!({"app": "a"}));
        canary["metadata"]["annotations"] = json!({DIRECT_RPS_ANNOTATION: "4"});
        let view = ClusterView {
            services: vec![
                service("default", "nginx", json!({"app": "nginx"})),
                service("istio-system", "prometheus", json!({"app": "p"})),
                service("default", "kubernetes", json!({})),
                canary,
            ],
            ..ClusterView::default()
        };
        let flows = service_flows(&view, 10.0);
        assert!((rate(&flows, "nginx") - 10.0).abs() < 1e-9);
        assert!(rate(&flows, "prometheus").abs() < 1e-9);
        assert!(rate(&flows, "kubernetes").abs() < 1e-9);
        // An entry of its own (10) plus the user's direct requests (4).
        assert!((rate(&flows, "c") - 14.0).abs() < 1e-9);
    }

    #[test]
    fn without_a_router_versions_share_by_ready_pods() {
        let view = ClusterView {
            namespaces: vec![json!({"metadata": {"name": "default", "annotations": {
                ERROR_RATE_ANNOTATION: "nginx:1.24.0=0.5", LATENCY_ANNOTATION: "nginx:1.24.0=80"}}})],
            services: vec![service("default", "nginx", json!({"app": "nginx"}))],
            pods: vec![
                pod(
                    "default",
                    "a",
                    json!({"app": "nginx", "rollouts-pod-template-hash": "old"}),
                    "nginx:1.23.4",
                    true,
                ),
                pod(
                    "default",
                    "b",
                    json!({"app": "nginx", "rollouts-pod-template-hash": "old"}),
                    "nginx:1.23.4",
                    true,
                ),
                pod(
                    "default",
                    "c",
                    json!({"app": "nginx", "rollouts-pod-template-hash": "new"}),
                    "nginx:1.24.0",
                    true,
                ),
                pod(
                    "default",
                    "d",
                    json!({"app": "nginx", "rollouts-pod-template-hash": "new"}),
                    "nginx:1.24.0",
                    false,
                ),
                pod(
                    "default",
                    "e",
                    json!({"app": "other", "rollouts-pod-template-hash": "x"}),
                    "x",
                    true,
                ),
            ],
            ..ClusterView::default()
        };
        let backends = service_backends(&view, "default", "nginx");
        assert_eq!(backends.len(), 2);
        let new = backends.iter().find(|b| b.hash == "new").unwrap();
        assert_eq!(
            (new.ready_pods, new.error_rate, new.latency_ms),
            (1, 0.5, 80.0)
        );
        let old = backends.iter().find(|b| b.hash == "old").unwrap();
        assert_eq!(
            (old.ready_pods, old.error_rate, old.latency_ms),
            (2, 0.0, DEFAULT_LATENCY_MS)
        );

        let mut stats = TrafficStats::default();
        let flows = service_flows(&view, 30.0);
        for second in 1..=10 {
            stats.advance(&view, &flows, 1.0, f64::from(second));
        }
        let count = |hash: &str, code: u16| {
            stats
                .series
                .iter()
                .filter(|(k, _)| k.hash == hash && k.code == code)
                .map(|(_, h)| h.count)
                .sum::<u64>()
        };
        // 300 requests: 200 to the old pods, 100 to the new one, half of which fail.
        assert_eq!(count("old", 200), 200);
        assert_eq!(count("new", 200), 50);
        assert_eq!(count("new", 500), 50);
        let window = stats.window("default", "nginx", 5.0).unwrap();
        assert_eq!((window.requests, window.errors), (150, 25));
        assert_eq!(window.success_rate, Some(125.0 / 150.0));
        assert!(stats.window("default", "absent", 5.0).is_none());
    }

    #[test]
    fn a_service_that_lost_its_ready_pods_answers_503() {
        let mut view = ClusterView {
            services: vec![service("n", "s", json!({"app": "a"}))],
            ..ClusterView::default()
        };
        let mut stats = TrafficStats::default();
        let flows = service_flows(&view, 2.0);
        // Never up: no traffic at all.
        stats.advance(&view, &flows, 1.0, 1.0);
        assert!(stats.series.is_empty());
        view.pods = vec![pod(
            "n",
            "p",
            json!({"app": "a", "rollouts-pod-template-hash": "h"}),
            "i",
            true,
        )];
        stats.advance(&view, &flows, 1.0, 2.0);
        view.pods.clear();
        stats.advance(&view, &flows, 1.5, 3.0);
        stats.advance(&view, &flows, 1.5, 4.0);
        let unavailable = stats.series.iter().find(|(k, _)| k.code == 503).unwrap();
        assert_eq!(unavailable.1.count, 6);
        assert_eq!(stats.window("n", "s", 60.0).unwrap().server_errors, 6);
    }

    #[test]
    fn image_settings_parse() {
        let value = "quay.io/brancz/prometheus-example-app:v0.3.0=1, nginx:1.24.0 = 0.25";
        assert_eq!(
            image_setting(value, "quay.io/brancz/prometheus-example-app:v0.3.0"),
            Some(1.0)
        );
        assert_eq!(image_setting(value, "nginx:1.24.0"), Some(0.25));
        assert_eq!(image_setting(value, "nginx:1.23.4"), None);
        assert_eq!(image_setting("garbage", "nginx"), None);
    }
}
