//! Traffic routing of a canary (spec §5.2–§5.6), router-agnostic part: which router objects a
//! Rollout names ([`referenced_objects`]), the canary weight one reconcile asks for
//! ([`desired_weight`], the §5.2 row table), the stable-availability gate, the referenced-object
//! checks that become `InvalidSpec` ([`validation_error`]) and the fan-out to the routers
//! ([`router_changes`]). Each router module (`istio`, `alb`, `nginx`, `smi`) is a pure function
//! from the live router object (JSON) and the desired weights to the patch or object to send.
//! No I/O here; the shell reads the objects into [`TrafficObjects`] and writes the
//! [`TrafficChange`]s.

pub mod alb;
pub mod crds;
pub mod istio;
pub mod nginx;
pub mod read;
pub mod smi;
pub mod watch;

use std::collections::BTreeMap;

use serde_json::Value;

use crate::controller::canary_steps::CanaryStep;
use crate::crd::Rollout;
use crate::crd::rollout::TrafficRouting;
use crate::crd::rollout::{SetHeaderRoute, SetMirrorRoute};

/// The kinds of router objects the controller reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RouterKind {
    /// Istio `VirtualService`.
    VirtualService,
    /// Istio `DestinationRule`.
    DestinationRule,
    /// `networking.k8s.io/v1` `Ingress` (Nginx, ALB).
    Ingress,
    /// SMI `TrafficSplit`.
    TrafficSplit,
}

impl RouterKind {
    /// Every kind, in the order the shell discovers them.
    pub const ALL: [RouterKind; 4] = [
        RouterKind::VirtualService,
        RouterKind::DestinationRule,
        RouterKind::Ingress,
        RouterKind::TrafficSplit,
    ];

    /// API group.
    pub fn group(self) -> &'static str {
        match self {
            RouterKind::VirtualService | RouterKind::DestinationRule => "networking.istio.io",
            RouterKind::Ingress => "networking.k8s.io",
            RouterKind::TrafficSplit => "split.smi-spec.io",
        }
    }

    /// Kind name.
    pub fn kind(self) -> &'static str {
        match self {
            RouterKind::VirtualService => "VirtualService",
            RouterKind::DestinationRule => "DestinationRule",
            RouterKind::Ingress => "Ingress",
            RouterKind::TrafficSplit => "TrafficSplit",
        }
    }

    /// Resource (plural) name.
    pub fn plural(self) -> &'static str {
        match self {
            RouterKind::VirtualService => "virtualservices",
            RouterKind::DestinationRule => "destinationrules",
            RouterKind::Ingress => "ingresses",
            RouterKind::TrafficSplit => "trafficsplits",
        }
    }
}

/// One router object a Rollout refers to (or owns, for the nginx canary Ingress and the SMI
/// TrafficSplit).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    /// Its kind.
    pub kind: RouterKind,
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
}

/// The router objects of one Rollout as the shell read them, plus which kinds the cluster
/// serves. A kind absent from `served` is not installed (no CRD).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrafficObjects {
    /// Served kinds and the apiVersion (`group/version`) to use for each.
    pub served: BTreeMap<RouterKind, String>,
    /// Objects found, by key (full JSON objects with metadata).
    pub objects: BTreeMap<ObjectKey, Value>,
}

impl TrafficObjects {
    /// The object under `key`, if it exists.
    pub fn get(&self, key: &ObjectKey) -> Option<&Value> {
        self.objects.get(key)
    }
}

/// One write to a router object.
#[derive(Debug, Clone, PartialEq)]
pub enum TrafficChange {
    /// JSON merge patch of an existing object.
    Patch {
        /// The object.
        key: ObjectKey,
        /// `group/version`.
        api_version: String,
        /// Merge patch.
        patch: Value,
    },
    /// Create an object the Rollout owns (nginx canary Ingress, SMI TrafficSplit).
    Create {
        /// The object.
        key: ObjectKey,
        /// `group/version`.
        api_version: String,
        /// The full object.
        object: Value,
    },
}

/// A write a router decided on, before it is tied to its object key.
#[derive(Debug, Clone, PartialEq)]
pub enum ObjectWrite {
    /// Create this object.
    Create(Value),
    /// Merge-patch the existing object.
    Patch(Value),
}

impl ObjectWrite {
    /// The [`TrafficChange`] for `key`.
    pub fn into_change(self, key: ObjectKey, api_version: &str) -> TrafficChange {
        let api_version = api_version.to_owned();
        match self {
            ObjectWrite::Create(object) => TrafficChange::Create {
                key,
                api_version,
                object,
            },
            ObjectWrite::Patch(patch) => TrafficChange::Patch {
                key,
                api_version,
                patch,
            },
        }
    }
}

/// `name` or `name.namespace` (a trailing `.svc.cluster.local` / `.cluster.local` is ignored),
/// as Istio references are written (spec §1.4).
pub fn split_namespaced_name(reference: &str, default_namespace: &str) -> (String, String) {
    let trimmed = reference
        .strip_suffix(".svc.cluster.local")
        .or_else(|| reference.strip_suffix(".cluster.local"))
        .unwrap_or(reference);
    let mut parts = trimmed.split('.');
    let name = parts.next().unwrap_or_default().to_owned();
    let namespace = parts
        .next()
        .filter(|ns| !ns.is_empty())
        .unwrap_or(default_namespace)
        .to_owned();
    (name, namespace)
}

/// The nginx canary Ingress name: `<rollout>-<stableIngress>-canary`, the prefix cut to fit the
/// 253-character limit (spec §5.4, as the reference code writes it).
pub fn nginx_canary_ingress_name(rollout: &str, stable_ingress: &str) -> String {
    const SUFFIX: &str = "-canary";
    let mut prefix = format!("{rollout}-{stable_ingress}");
    let limit = 253 - SUFFIX.len();
    if prefix.len() > limit {
        let mut cut = limit;
        while !prefix.is_char_boundary(cut) {
            cut -= 1;
        }
        prefix.truncate(cut);
    }
    format!("{prefix}{SUFFIX}")
}

/// Nginx stable Ingress names (`stableIngress` then `stableIngresses`).
pub fn nginx_stable_ingresses(routing: &TrafficRouting) -> Vec<&str> {
    routing.nginx.as_ref().map_or_else(Vec::new, |nginx| {
        nginx
            .stable_ingress
            .iter()
            .chain(nginx.stable_ingresses.iter().flatten())
            .map(String::as_str)
            .filter(|s| !s.is_empty())
            .collect()
    })
}

/// ALB Ingress names (`ingress` then `ingresses`).
pub fn alb_ingresses(routing: &TrafficRouting) -> Vec<&str> {
    routing.alb.as_ref().map_or_else(Vec::new, |alb| {
        alb.ingress
            .iter()
            .chain(alb.ingresses.iter().flatten())
            .map(String::as_str)
            .filter(|s| !s.is_empty())
            .collect()
    })
}

/// The SMI TrafficSplit name: `trafficSplitName`, else the rollout name.
pub fn smi_traffic_split_name(routing: &TrafficRouting, rollout: &str) -> Option<String> {
    let smi = routing.smi.as_ref()?;
    Some(
        smi.traffic_split_name
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| rollout.to_owned()),
    )
}

/// Every router object the Rollout reads or writes, with the kinds it needs.
pub fn referenced_objects(rollout: &Rollout) -> Vec<ObjectKey> {
    use kube::ResourceExt;
    let Some(routing) = rollout.traffic_routing() else {
        return Vec::new();
    };
    let namespace = rollout.namespace().unwrap_or_default();
    let name = rollout.name_any();
    let key = |kind, namespace: &str, name: &str| ObjectKey {
        kind,
        namespace: namespace.to_owned(),
        name: name.to_owned(),
    };
    let mut keys = Vec::new();
    if let Some(istio) = routing.istio.as_ref() {
        for vs in istio.all_virtual_services() {
            let (vs_name, vs_ns) = split_namespaced_name(&vs.name, &namespace);
            keys.push(key(RouterKind::VirtualService, &vs_ns, &vs_name));
        }
        if let Some(dr) = istio.destination_rule.as_ref() {
            let (dr_name, dr_ns) = split_namespaced_name(&dr.name, &namespace);
            keys.push(key(RouterKind::DestinationRule, &dr_ns, &dr_name));
        }
    }
    for stable in nginx_stable_ingresses(routing) {
        keys.push(key(RouterKind::Ingress, &namespace, stable));
        let canary = nginx_canary_ingress_name(&name, stable);
        keys.push(key(RouterKind::Ingress, &namespace, &canary));
    }
    for ingress in alb_ingresses(routing) {
        keys.push(key(RouterKind::Ingress, &namespace, ingress));
    }
    if let Some(split) = smi_traffic_split_name(routing, &name) {
        keys.push(key(RouterKind::TrafficSplit, &namespace, &split));
    }
    keys.sort();
    keys.dedup();
    keys
}

/// `status.canary.stablePingPong` when the ping Service carries the stable pods.
pub const STABLE_PING: &str = "ping";
/// `status.canary.stablePingPong` when the pong Service carries the stable pods.
pub const STABLE_PONG: &str = "pong";

/// The ping-pong Services as (stable role, canary role), from `status.canary.stablePingPong`:
/// `ping` means the ping Service is the stable one; anything else (also no status yet) means
/// pong is, so the first promotion (the initial deploy) makes ping the stable Service (spec
/// §5.1). `None` without `pingPong`.
pub fn ping_pong_services(rollout: &Rollout) -> Option<(&str, &str)> {
    let ping_pong = rollout.canary()?.ping_pong.as_ref()?;
    let stable_is_ping = rollout
        .status
        .as_ref()
        .and_then(|s| s.canary.as_ref())
        .and_then(|c| c.stable_ping_pong.as_deref())
        == Some(STABLE_PING);
    let (ping, pong) = (
        ping_pong.ping_service.as_str(),
        ping_pong.pong_service.as_str(),
    );
    Some(if stable_is_ping {
        (ping, pong)
    } else {
        (pong, ping)
    })
}

/// The `stablePingPong` value after a promotion: the roles swap.
pub fn swapped_stable_ping_pong(current: Option<&str>) -> &'static str {
    if current == Some(STABLE_PING) {
        STABLE_PONG
    } else {
        STABLE_PING
    }
}

/// The (stable, canary) Service names a router writes (spec §5.1): with `pingPong`, the
/// ping-pong roles when `prefer_ping_pong` (ALB) or when no stable/canary Service is named
/// (Istio); otherwise `stableService` / `canaryService`.
pub fn router_services(rollout: &Rollout, prefer_ping_pong: bool) -> (String, String) {
    let canary = rollout.canary();
    let named = |s: Option<&String>| s.filter(|s| !s.is_empty()).cloned();
    let stable = named(canary.and_then(|c| c.stable_service.as_ref()));
    let canary_svc = named(canary.and_then(|c| c.canary_service.as_ref()));
    if let Some((ping_pong_stable, ping_pong_canary)) = ping_pong_services(rollout)
        && (prefer_ping_pong || (stable.is_none() && canary_svc.is_none()))
    {
        return (ping_pong_stable.to_owned(), ping_pong_canary.to_owned());
    }
    (stable.unwrap_or_default(), canary_svc.unwrap_or_default())
}

/// The `pingPong` checks of §1.5: two different Services, a router that can drive them (ALB or
/// Istio), and a `rootService` for ALB (the action annotation is named after it).
fn ping_pong_error(rollout: &Rollout, routing: &TrafficRouting) -> Option<String> {
    let ping_pong = rollout.canary()?.ping_pong.as_ref()?;
    let path = "spec.strategy.canary.pingPong";
    if ping_pong.ping_service.is_empty() || ping_pong.ping_service == ping_pong.pong_service {
        return Some(format!(
            "{path}.pingService: Invalid value: {}: This rollout uses the same service for the \
             ping and pong services, but two different services are required.",
            quoted(&ping_pong.ping_service)
        ));
    }
    if routing.alb.is_none() && routing.istio.is_none() {
        return Some(format!(
            "{path}: Invalid value: {}: Ping-pong feature works with the ALB and Istio traffic \
             routing only",
            quoted(&ping_pong.ping_service)
        ));
    }
    if let Some(alb) = routing.alb.as_ref()
        && alb.root_service.as_deref().is_none_or(str::is_empty)
    {
        return Some(
            "spec.strategy.canary.trafficRouting.alb.rootService: Invalid value: \"\": Root \
             service field is required for the configuration with ALB and ping-pong feature \
             enabled"
                .to_owned(),
        );
    }
    None
}

/// The DestinationRules in `objects` that carry this Rollout's `managed-by-rollouts`
/// annotation but that it no longer references (`trafficRouting` removed or changed): the
/// patches that hand them back, hash labels and annotation removed (the reference's
/// DestinationRule controller, spec §5.3).
pub fn released_router_changes(rollout: &Rollout, objects: &TrafficObjects) -> Vec<TrafficChange> {
    use kube::ResourceExt;
    let referenced = referenced_objects(rollout);
    let api_version = objects
        .served
        .get(&RouterKind::DestinationRule)
        .cloned()
        .unwrap_or_else(|| "networking.istio.io/v1alpha3".to_owned());
    objects
        .objects
        .iter()
        .filter(|(key, _)| {
            key.kind == RouterKind::DestinationRule
                && !referenced.contains(key)
                && rollout.namespace().is_none_or(|ns| ns == key.namespace)
        })
        .filter_map(|(key, object)| {
            istio::released_destination_rule_patch(object, &rollout.name_any()).map(|patch| {
                TrafficChange::Patch {
                    key: key.clone(),
                    api_version: api_version.clone(),
                    patch,
                }
            })
        })
        .collect()
}

/// Inputs of [`desired_weight`] (spec §5.2 step 1, without `dynamicStableScale`).
#[derive(Debug, Clone, Copy)]
pub struct WeightInput<'a> {
    /// Canary steps.
    pub steps: &'a [CanaryStep],
    /// `status.currentStepIndex`.
    pub current_step_index: Option<i32>,
    /// `status.stableRS == status.currentPodHash`.
    pub fully_promoted: bool,
    /// `status.abort`.
    pub aborted: bool,
    /// `status.promoteFull`.
    pub promote_full: bool,
    /// Available pods of the new RS; `None` when there is none.
    pub new_rs_available: Option<i32>,
    /// `AtDesiredReplicaCountsForCanary` for the current step.
    pub at_desired: bool,
    /// `status.canary.weights.canary.weight` before this reconcile.
    pub recorded_canary_weight: Option<i32>,
    /// Max traffic weight.
    pub max_weight: i32,
}

/// The canary weight for this reconcile and whether managed (header/mirror) routes go away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WeightDecision {
    /// Canary weight.
    pub weight: i32,
    /// Remove the managed routes (promoted, aborted, promoteFull, canary unavailable).
    pub remove_managed_routes: bool,
}

/// The §5.2 row table: first matching row wins.
pub fn desired_weight(input: &WeightInput<'_>) -> WeightDecision {
    let remove = |weight| WeightDecision {
        weight,
        remove_managed_routes: true,
    };
    let keep = |weight| WeightDecision {
        weight,
        remove_managed_routes: false,
    };
    if input.fully_promoted || input.aborted {
        return remove(0);
    }
    if input.new_rs_available.is_none_or(|n| n <= 0) {
        return remove(0);
    }
    if input.promote_full {
        return remove(input.recorded_canary_weight.unwrap_or(0));
    }
    if input.steps.is_empty() {
        return keep(0);
    }
    let len = input.steps.len();
    let index = usize::try_from(input.current_step_index.unwrap_or(0).max(0)).unwrap_or(len);
    let last_set_weight = |upto: usize| {
        input.steps[..upto.min(len)]
            .iter()
            .rev()
            .find_map(|step| match step {
                CanaryStep::SetWeight(w) => Some(*w),
                _ => None,
            })
            .unwrap_or(0)
    };
    if !input.at_desired {
        // 6a: the canary does not have its pods for this step yet; keep the previous weight.
        return keep(last_set_weight(index));
    }
    if index < len {
        return keep(last_set_weight(index + 1));
    }
    keep(input.max_weight)
}

/// Stable availability gate (§5.2 step 2): the stable RS must be able to carry the stable share
/// (`(MAXW − w)·R / MAXW` available pods, integer division) before any router is touched.
pub fn stable_can_carry(
    weight: i32,
    max_weight: i32,
    replicas: i32,
    stable_available: Option<i32>,
) -> bool {
    let Some(available) = stable_available else {
        return false;
    };
    let max = i64::from(max_weight.max(1));
    let need = (max - i64::from(weight)).max(0) * i64::from(replicas.max(0)) / max;
    i64::from(available) >= need
}

/// The header route a `setHeaderRoute` step asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum ManagedRouteStep<'a> {
    /// `setHeaderRoute`.
    Header(&'a SetHeaderRoute),
    /// `setMirrorRoute`.
    Mirror(&'a SetMirrorRoute),
}

/// Everything a router needs to know about this reconcile.
#[derive(Debug, Clone)]
pub struct DesiredTraffic<'a> {
    /// The Rollout (name, namespace, uid for ownerReferences, spec).
    pub rollout: &'a Rollout,
    /// `canaryService`.
    pub canary_service: &'a str,
    /// `stableService`.
    pub stable_service: &'a str,
    /// Canary weight.
    pub canary_weight: i32,
    /// Max traffic weight.
    pub max_weight: i32,
    /// Remove managed routes this pass.
    pub remove_managed_routes: bool,
    /// The current step when it is `setHeaderRoute` / `setMirrorRoute` (revision > 1).
    pub route_step: Option<ManagedRouteStep<'a>>,
    /// Pod-template hash of the canary (new) ReplicaSet, for DestinationRule subsets.
    pub canary_hash: &'a str,
    /// Pod-template hash of the stable ReplicaSet, for DestinationRule subsets.
    pub stable_hash: &'a str,
}

impl DesiredTraffic<'_> {
    /// `managedRoutes` names, in order.
    pub fn managed_routes(&self) -> Vec<String> {
        self.rollout
            .traffic_routing()
            .and_then(|r| r.managed_routes.as_ref())
            .map(|routes| routes.iter().map(|r| r.name.clone()).collect())
            .unwrap_or_default()
    }

    fn namespace(&self) -> String {
        use kube::ResourceExt;
        self.rollout.namespace().unwrap_or_default()
    }
}

/// Why a router could not be reconciled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrafficRoutingError {
    /// A referenced object is missing or invalid (becomes `InvalidSpec`).
    #[error("{path}: Invalid value: {value}: {detail}")]
    InvalidReference {
        /// Spec field path.
        path: String,
        /// The offending value (quoted).
        value: String,
        /// What is wrong.
        detail: String,
    },
    /// A write the router refuses to make (emitted as a `TrafficRoutingError` event).
    #[error("{0}")]
    Refused(String),
}

fn quoted(text: &str) -> String {
    Value::String(text.to_owned()).to_string()
}

fn invalid(path: &str, value: &str, detail: impl Into<String>) -> TrafficRoutingError {
    TrafficRoutingError::InvalidReference {
        path: path.to_owned(),
        value: quoted(value),
        detail: detail.into(),
    }
}

/// Routers named in the spec that rolltop does not drive yet.
fn unsupported_router(routing: &TrafficRouting) -> Option<&'static str> {
    [
        ("ambassador", routing.ambassador.is_some()),
        ("appMesh", routing.app_mesh.is_some()),
        ("traefik", routing.traefik.is_some()),
        ("apisix", routing.apisix.is_some()),
        ("plugins", routing.plugins.is_some()),
    ]
    .into_iter()
    .find_map(|(name, set)| set.then_some(name))
}

/// The referenced-object checks of §1.5 for the traffic routers: kinds served, objects present,
/// VirtualService routes present and pointing at both services, Ingress rules with the stable
/// backend. The first failure, rendered as a field error; `None` when all hold.
pub fn validation_error(rollout: &Rollout, objects: &TrafficObjects) -> Option<String> {
    let routing = rollout.traffic_routing()?;
    let base = "spec.strategy.canary.trafficRouting";
    if let Some(name) = unsupported_router(routing) {
        return Some(format!(
            "{base}.{name}: Unsupported value: rolltop's controller drives istio, nginx, alb and \
             smi only; {name} is not implemented yet"
        ));
    }
    if let Some(message) = ping_pong_error(rollout, routing) {
        return Some(message);
    }
    // The Services the routers name: ping-pong roles when no stable/canary Service is given.
    let (stable_service, canary_service) = router_services(rollout, false);
    let (stable_service, canary_service) = (stable_service.as_str(), canary_service.as_str());
    let namespace = {
        use kube::ResourceExt;
        rollout.namespace().unwrap_or_default()
    };
    let missing_kind = |kind: RouterKind, path: &str, name: &str| {
        invalid(
            path,
            name,
            format!(
                "the server does not serve {}.{} (is the {} CRD installed?)",
                kind.plural(),
                kind.group(),
                kind.kind()
            ),
        )
    };
    let not_found = |kind: RouterKind, path: &str, name: &str| {
        invalid(
            path,
            name,
            format!(
                "{}.{} {} not found",
                kind.plural(),
                kind.group(),
                quoted(name)
            ),
        )
    };
    let check = || -> Result<(), TrafficRoutingError> {
        if let Some(istio) = routing.istio.as_ref() {
            let refs = istio.all_virtual_services();
            for (i, vs) in refs.iter().enumerate() {
                let path = if istio.virtual_service.is_some() && i == 0 {
                    format!("{base}.istio.virtualService")
                } else {
                    let offset = usize::from(istio.virtual_service.is_some());
                    format!("{base}.istio.virtualServices[{}]", i - offset)
                };
                let (name, ns) = split_namespaced_name(&vs.name, &namespace);
                if !objects.served.contains_key(&RouterKind::VirtualService) {
                    return Err(missing_kind(
                        RouterKind::VirtualService,
                        &format!("{path}.name"),
                        &vs.name,
                    ));
                }
                let key = ObjectKey {
                    kind: RouterKind::VirtualService,
                    namespace: ns,
                    name: name.clone(),
                };
                let Some(object) = objects.get(&key) else {
                    return Err(not_found(
                        RouterKind::VirtualService,
                        &format!("{path}.name"),
                        &name,
                    ));
                };
                istio::validate_virtual_service(
                    object,
                    vs,
                    istio.destination_rule.as_ref(),
                    canary_service,
                    stable_service,
                    &path,
                )?;
            }
            if let Some(dr) = istio.destination_rule.as_ref() {
                let path = format!("{base}.istio.destinationRule.name");
                if !objects.served.contains_key(&RouterKind::DestinationRule) {
                    return Err(missing_kind(RouterKind::DestinationRule, &path, &dr.name));
                }
                let (name, ns) = split_namespaced_name(&dr.name, &namespace);
                let key = ObjectKey {
                    kind: RouterKind::DestinationRule,
                    namespace: ns,
                    name: name.clone(),
                };
                if objects.get(&key).is_none() {
                    return Err(not_found(RouterKind::DestinationRule, &path, &name));
                }
            }
        }
        let ingress = |name: &str| ObjectKey {
            kind: RouterKind::Ingress,
            namespace: namespace.clone(),
            name: name.to_owned(),
        };
        for (i, name) in nginx_stable_ingresses(routing).into_iter().enumerate() {
            let path = format!("{base}.nginx.stableIngress");
            let Some(object) = objects.get(&ingress(name)) else {
                return Err(not_found(RouterKind::Ingress, &path, name));
            };
            if !nginx::has_backend(object, stable_service) {
                return Err(invalid(
                    &format!("{base}.nginx.stableIngresses[{i}]"),
                    name,
                    format!("ingress `{name}` has no rules using service {stable_service} backend"),
                ));
            }
        }
        if let Some(alb) = routing.alb.as_ref() {
            let root = alb
                .root_service
                .as_deref()
                .filter(|s| !s.is_empty())
                .unwrap_or(stable_service);
            for name in alb_ingresses(routing) {
                let path = format!("{base}.alb.ingress");
                let Some(object) = objects.get(&ingress(name)) else {
                    return Err(not_found(RouterKind::Ingress, &path, name));
                };
                if !nginx::has_backend(object, root) {
                    return Err(invalid(
                        &path,
                        name,
                        format!("ingress `{name}` has no rules using service {root} backend"),
                    ));
                }
            }
            if alb.service_port.is_none() {
                return Err(TrafficRoutingError::InvalidReference {
                    path: format!("{base}.alb.servicePort"),
                    value: "0".to_owned(),
                    detail: "servicePort is required".to_owned(),
                });
            }
        }
        if routing.smi.is_some() && !objects.served.contains_key(&RouterKind::TrafficSplit) {
            let name = smi_traffic_split_name(routing, &{
                use kube::ResourceExt;
                rollout.name_any()
            })
            .unwrap_or_default();
            return Err(missing_kind(
                RouterKind::TrafficSplit,
                &format!("{base}.smi.trafficSplitName"),
                &name,
            ));
        }
        Ok(())
    };
    check().err().map(|e| e.to_string())
}

/// The writes every configured router needs for `desired` (spec §5.2 steps 3–6). Routers are
/// independent: each gets the same weights.
pub fn router_changes(
    desired: &DesiredTraffic<'_>,
    objects: &TrafficObjects,
) -> Result<Vec<TrafficChange>, TrafficRoutingError> {
    let Some(routing) = desired.rollout.traffic_routing() else {
        return Ok(Vec::new());
    };
    let namespace = desired.namespace();
    let mut changes = Vec::new();
    if let Some(istio) = routing.istio.as_ref() {
        // UpdateHash before SetWeight (§5.2 steps 4–5): subsets point at the right pods before
        // traffic moves, except when the weight drops to 0, where the VirtualService goes first.
        let mut subsets_change = None;
        if let Some(dr) = istio.destination_rule.as_ref() {
            let (name, ns) = split_namespaced_name(&dr.name, &namespace);
            let key = ObjectKey {
                kind: RouterKind::DestinationRule,
                namespace: ns,
                name,
            };
            let api_version = objects
                .served
                .get(&RouterKind::DestinationRule)
                .cloned()
                .unwrap_or_default();
            if let Some(object) = objects.get(&key)
                && let Some(patch) = istio::destination_rule_patch(object, dr, desired)
            {
                subsets_change = Some(TrafficChange::Patch {
                    key,
                    api_version,
                    patch,
                });
            }
        }
        let vs_first = desired.canary_weight == 0;
        if !vs_first {
            changes.extend(subsets_change.take());
        }
        let api_version = objects
            .served
            .get(&RouterKind::VirtualService)
            .cloned()
            .unwrap_or_default();
        for reference in istio.all_virtual_services() {
            let (name, ns) = split_namespaced_name(&reference.name, &namespace);
            let key = ObjectKey {
                kind: RouterKind::VirtualService,
                namespace: ns,
                name,
            };
            let Some(object) = objects.get(&key) else {
                continue;
            };
            if let Some(patch) = istio::virtual_service_patch(
                object,
                reference,
                istio.destination_rule.as_ref(),
                desired,
            )? {
                changes.push(TrafficChange::Patch {
                    key,
                    api_version: api_version.clone(),
                    patch,
                });
            }
        }
        changes.extend(subsets_change);
    }
    if routing.alb.is_some() {
        for name in alb_ingresses(routing) {
            let key = ObjectKey {
                kind: RouterKind::Ingress,
                namespace: namespace.clone(),
                name: name.to_owned(),
            };
            let Some(object) = objects.get(&key) else {
                continue;
            };
            if let Some(patch) = alb::ingress_patch(object, desired) {
                changes.push(TrafficChange::Patch {
                    key,
                    api_version: "networking.k8s.io/v1".to_owned(),
                    patch,
                });
            }
        }
    }
    for stable in nginx_stable_ingresses(routing) {
        let stable_key = ObjectKey {
            kind: RouterKind::Ingress,
            namespace: namespace.clone(),
            name: stable.to_owned(),
        };
        let Some(stable_object) = objects.get(&stable_key) else {
            continue;
        };
        let canary_key = ObjectKey {
            name: nginx_canary_ingress_name(&stable_key_rollout(desired), stable),
            ..stable_key.clone()
        };
        if let Some(change) =
            nginx::canary_ingress_change(stable_object, objects.get(&canary_key), desired)?
        {
            changes.push(change.into_change(canary_key, "networking.k8s.io/v1"));
        }
    }
    if let Some(name) = smi_traffic_split_name(routing, &stable_key_rollout(desired)) {
        let key = ObjectKey {
            kind: RouterKind::TrafficSplit,
            namespace,
            name,
        };
        if let Some(api_version) = objects.served.get(&RouterKind::TrafficSplit)
            && let Some(change) =
                smi::traffic_split_change(objects.get(&key), api_version, &key.name, desired)?
        {
            changes.push(change.into_change(key, api_version));
        }
    }
    Ok(changes)
}

fn stable_key_rollout(desired: &DesiredTraffic<'_>) -> String {
    use kube::ResourceExt;
    desired.rollout.name_any()
}

/// The `rollouts-pod-template-hash` values on the subsets of the Rollout's DestinationRule: an RS
/// a subset still selects is not scaled down (§4.4 step 3).
pub fn destination_rule_hashes(rollout: &Rollout, objects: &TrafficObjects) -> Vec<String> {
    use kube::ResourceExt;
    let Some(dr) = rollout
        .traffic_routing()
        .and_then(|r| r.istio.as_ref())
        .and_then(|i| i.destination_rule.as_ref())
    else {
        return Vec::new();
    };
    let (name, namespace) =
        split_namespaced_name(&dr.name, &rollout.namespace().unwrap_or_default());
    let key = ObjectKey {
        kind: RouterKind::DestinationRule,
        namespace,
        name,
    };
    objects
        .get(&key)
        .and_then(|o| o.pointer("/spec/subsets"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|s| {
            s.pointer("/labels")
                .and_then(|l| l.get(crate::controller::hash::POD_TEMPLATE_HASH_LABEL))
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .collect()
}

/// The ownerReference that marks an object as created by this Rollout.
pub fn owner_reference(rollout: &Rollout) -> Value {
    use kube::ResourceExt;
    serde_json::json!({
        "apiVersion": crate::crd::API_VERSION,
        "kind": "Rollout",
        "name": rollout.name_any(),
        "uid": rollout.metadata.uid.clone().unwrap_or_default(),
        "controller": true,
        "blockOwnerDeletion": true,
    })
}

/// Whether `object` is controlled by `rollout` (by ownerReference kind, name and uid).
pub fn owned_by(object: &Value, rollout: &Rollout) -> bool {
    use kube::ResourceExt;
    let uid = rollout.metadata.uid.clone().unwrap_or_default();
    object
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .is_some_and(|owners| {
            owners.iter().any(|o| {
                o.get("kind").and_then(Value::as_str) == Some("Rollout")
                    && o.get("name").and_then(Value::as_str) == Some(rollout.name_any().as_str())
                    && o.get("controller").and_then(Value::as_bool) == Some(true)
                    && (uid.is_empty()
                        || o.get("uid")
                            .and_then(Value::as_str)
                            .is_none_or(|u| u == uid))
            })
        })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn input(steps: &[CanaryStep]) -> WeightInput<'_> {
        WeightInput {
            steps,
            current_step_index: Some(0),
            fully_promoted: false,
            aborted: false,
            promote_full: false,
            new_rs_available: Some(1),
            at_desired: true,
            recorded_canary_weight: Some(0),
            max_weight: 100,
        }
    }

    #[test]
    fn weight_rows_of_the_reference_table() {
        let steps = [
            CanaryStep::SetWeight(5),
            CanaryStep::Pause(None),
            CanaryStep::SetWeight(50),
            CanaryStep::Pause(None),
        ];
        let at = |index: i32, at_desired: bool| WeightInput {
            current_step_index: Some(index),
            at_desired,
            ..input(&steps)
        };
        // (input, weight, remove managed routes)
        let cases = [
            (
                WeightInput {
                    fully_promoted: true,
                    ..at(4, true)
                },
                0,
                true,
            ),
            (
                WeightInput {
                    aborted: true,
                    ..at(2, true)
                },
                0,
                true,
            ),
            (
                WeightInput {
                    new_rs_available: Some(0),
                    ..at(1, true)
                },
                0,
                true,
            ),
            (
                WeightInput {
                    new_rs_available: None,
                    ..at(1, true)
                },
                0,
                true,
            ),
            (
                WeightInput {
                    promote_full: true,
                    recorded_canary_weight: Some(5),
                    ..at(1, true)
                },
                5,
                true,
            ),
            // 6a: not at desired keeps the weight of the last setWeight before the index.
            (at(0, false), 0, false),
            (at(2, false), 5, false),
            // 6b: at desired.
            (at(0, true), 5, false),
            (at(1, true), 5, false),
            (at(2, true), 50, false),
            (at(3, true), 50, false),
            // 6c: past the last step.
            (at(4, true), 100, false),
        ];
        for (i, (case, weight, remove)) in cases.into_iter().enumerate() {
            let got = desired_weight(&case);
            assert_eq!(got.weight, weight, "case {i}");
            assert_eq!(got.remove_managed_routes, remove, "case {i}");
        }
        let none: [CanaryStep; 0] = [];
        assert_eq!(desired_weight(&input(&none)).weight, 0);
    }

    #[test]
    fn stable_gate_needs_the_stable_share_available() {
        // (weight, replicas, stable available) ⇒ may shift
        let cases = [
            (5, 1, Some(1), true),
            (5, 1, Some(0), true), // 95·1/100 = 0 pods needed
            (0, 1, Some(0), false),
            (10, 10, Some(8), false),
            (10, 10, Some(9), true),
            (50, 4, None, false),
        ];
        for (weight, replicas, available, ok) in cases {
            assert_eq!(
                stable_can_carry(weight, 100, replicas, available),
                ok,
                "{weight} {replicas} {available:?}"
            );
        }
    }

    #[test]
    fn names_and_namespaces_of_references() {
        let cases = [
            ("vs", ("vs", "ns")),
            ("vs.other", ("vs", "other")),
            ("vs.other.svc.cluster.local", ("vs", "other")),
            ("vs.other.cluster.local", ("vs", "other")),
        ];
        for (reference, (name, namespace)) in cases {
            assert_eq!(
                split_namespaced_name(reference, "ns"),
                (name.to_owned(), namespace.to_owned())
            );
        }
        assert_eq!(
            nginx_canary_ingress_name("demo", "web"),
            "demo-web-canary".to_owned()
        );
        let long = nginx_canary_ingress_name(&"r".repeat(200), &"i".repeat(100));
        assert_eq!(long.len(), 253);
        assert!(long.ends_with("-canary"));
    }

    #[test]
    fn validation_names_what_is_missing() {
        let rollout = |routing: serde_json::Value, extra: serde_json::Value| -> Rollout {
            let mut canary = serde_json::json!({"canaryService": "c", "stableService": "s",
                                                "trafficRouting": routing});
            for (k, v) in extra.as_object().unwrap() {
                canary[k] = v.clone();
            }
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": "demo", "namespace": "shop"},
                "spec": {"strategy": {"canary": canary}}
            }))
            .unwrap()
        };
        let ingress = |name: &str, backend: &str| {
            (
                ObjectKey {
                    kind: RouterKind::Ingress,
                    namespace: "shop".to_owned(),
                    name: name.to_owned(),
                },
                serde_json::json!({"spec": {"rules": [{"http": {"paths": [
                    {"backend": {"service": {"name": backend}}}]}}]}}),
            )
        };
        let with = |objects: Vec<(ObjectKey, serde_json::Value)>| TrafficObjects {
            served: [
                (RouterKind::Ingress, "networking.k8s.io/v1".to_owned()),
                (
                    RouterKind::TrafficSplit,
                    "split.smi-spec.io/v1alpha3".to_owned(),
                ),
            ]
            .into_iter()
            .collect(),
            objects: objects.into_iter().collect(),
        };
        let none = serde_json::json!({});
        let base = "spec.strategy.canary.trafficRouting";
        // (routing, extra canary fields, objects, expected error or None)
        let cases: Vec<(
            serde_json::Value,
            serde_json::Value,
            TrafficObjects,
            Option<String>,
        )> = vec![
            (
                serde_json::json!({"istio": {"virtualService": {"name": "vs"}}}),
                none.clone(),
                with(vec![]),
                Some(format!(
                    "{base}.istio.virtualService.name: Invalid value: \"vs\": the server does not \
                     serve virtualservices.networking.istio.io (is the VirtualService CRD installed?)"
                )),
            ),
            (
                serde_json::json!({"nginx": {"stableIngress": "web"}}),
                none.clone(),
                with(vec![]),
                Some(format!(
                    "{base}.nginx.stableIngress: Invalid value: \"web\": ingresses.networking.k8s.io \
                     \"web\" not found"
                )),
            ),
            (
                serde_json::json!({"nginx": {"stableIngress": "web"}}),
                none.clone(),
                with(vec![ingress("web", "s")]),
                None,
            ),
            (
                serde_json::json!({"alb": {"ingress": "alb", "servicePort": 80}}),
                none.clone(),
                with(vec![ingress("alb", "other")]),
                Some(format!(
                    "{base}.alb.ingress: Invalid value: \"alb\": ingress `alb` has no rules using \
                     service s backend"
                )),
            ),
            (
                serde_json::json!({"alb": {"ingress": "alb"}}),
                none.clone(),
                with(vec![ingress("alb", "s")]),
                Some(format!(
                    "{base}.alb.servicePort: Invalid value: 0: servicePort is required"
                )),
            ),
            (
                serde_json::json!({"smi": {}}),
                none.clone(),
                with(vec![]),
                None,
            ),
            (
                serde_json::json!({"traefik": {"weightedTraefikServiceName": "t"}}),
                none.clone(),
                with(vec![]),
                Some(format!(
                    "{base}.traefik: Unsupported value: rolltop's controller drives istio, nginx, \
                     alb and smi only; traefik is not implemented yet"
                )),
            ),
            (
                serde_json::json!({"smi": {}}),
                serde_json::json!({"pingPong": {"pingService": "a", "pongService": "b"}}),
                with(vec![]),
                Some(
                    "spec.strategy.canary.pingPong: Invalid value: \"a\": Ping-pong feature works \
                     with the ALB and Istio traffic routing only"
                        .to_owned(),
                ),
            ),
            (
                serde_json::json!({"alb": {"ingress": "alb", "servicePort": 80}}),
                serde_json::json!({"pingPong": {"pingService": "a", "pongService": "b"}}),
                with(vec![ingress("alb", "s")]),
                Some(
                    "spec.strategy.canary.trafficRouting.alb.rootService: Invalid value: \"\": \
                     Root service field is required for the configuration with ALB and ping-pong \
                     feature enabled"
                        .to_owned(),
                ),
            ),
            (
                serde_json::json!({"alb": {"ingress": "alb", "servicePort": 80,
                                           "rootService": "root"}}),
                serde_json::json!({"pingPong": {"pingService": "a", "pongService": "b"}}),
                with(vec![ingress("alb", "root")]),
                None,
            ),
            (
                serde_json::json!({"alb": {"ingress": "alb", "servicePort": 80,
                                           "rootService": "root"}}),
                serde_json::json!({"pingPong": {"pingService": "a", "pongService": "a"}}),
                with(vec![ingress("alb", "root")]),
                Some(
                    "spec.strategy.canary.pingPong.pingService: Invalid value: \"a\": This \
                     rollout uses the same service for the ping and pong services, but two \
                     different services are required."
                        .to_owned(),
                ),
            ),
        ];
        for (i, (routing, extra, objects, want)) in cases.into_iter().enumerate() {
            let r = rollout(routing, extra);
            assert_eq!(validation_error(&r, &objects), want, "case {i}");
        }
    }

    #[test]
    fn referenced_objects_of_each_router() {
        let rollout: Rollout = serde_json::from_value(serde_json::json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
            "metadata": {"name": "demo", "namespace": "shop"},
            "spec": {"strategy": {"canary": {
                "canaryService": "c", "stableService": "s",
                "trafficRouting": {
                    "istio": {"virtualService": {"name": "vs"},
                              "virtualServices": [{"name": "vs2.mesh"}],
                              "destinationRule": {"name": "dr", "canarySubsetName": "c",
                                                  "stableSubsetName": "s"}},
                    "nginx": {"stableIngress": "web"},
                    "alb": {"ingress": "alb", "servicePort": 80},
                    "smi": {}
                }}}}
        }))
        .unwrap();
        let keys: Vec<(RouterKind, String, String)> = referenced_objects(&rollout)
            .into_iter()
            .map(|k| (k.kind, k.namespace, k.name))
            .collect();
        let expect = |kind, ns: &str, name: &str| (kind, ns.to_owned(), name.to_owned());
        assert_eq!(
            keys,
            vec![
                expect(RouterKind::VirtualService, "mesh", "vs2"),
                expect(RouterKind::VirtualService, "shop", "vs"),
                expect(RouterKind::DestinationRule, "shop", "dr"),
                expect(RouterKind::Ingress, "shop", "alb"),
                expect(RouterKind::Ingress, "shop", "demo-web-canary"),
                expect(RouterKind::Ingress, "shop", "web"),
                expect(RouterKind::TrafficSplit, "shop", "demo"),
            ]
        );
    }
}
