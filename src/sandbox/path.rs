//! Request addressing: which resource a URL path names, and the query parameters every client
//! spells differently (kube-rs's leading `?&`, python's `watch=True`, URL-encoded selectors).
//! Pure functions only; the server turns their results into storage calls.

use std::collections::HashMap;

use percent_encoding::percent_decode_str;

/// A parsed resource path: `/api/v1/namespaces/ns/pods/web/log` and friends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiPath {
    pub group: String,
    pub version: String,
    pub namespace: Option<String>,
    pub resource: String,
    pub name: Option<String>,
    pub subresource: Option<String>,
    /// What follows a `proxy` subresource, e.g. `api/v1/query` (no leading slash).
    pub rest: Option<String>,
}

/// What a URL path asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Version,
    CoreGroups,
    Groups,
    /// `/apis/{group}`: one APIGroup.
    Group(String),
    /// `/api/v1` or `/apis/{g}/{v}`: an APIResourceList.
    GroupVersion {
        group: String,
        version: String,
    },
    OpenApiV3Index,
    OpenApiV3 {
        group: String,
        version: String,
    },
    Resource(ApiPath),
    Health,
}

/// Parses a request path (already percent-decoded by segment here), or `None` for a path the
/// server does not serve.
pub fn parse_route(path: &str) -> Option<Route> {
    let segments: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
        .collect();
    let s: Vec<&str> = segments.iter().map(String::as_str).collect();
    match s.as_slice() {
        ["version"] => Some(Route::Version),
        ["healthz" | "livez" | "readyz"] => Some(Route::Health),
        ["api"] => Some(Route::CoreGroups),
        ["apis"] => Some(Route::Groups),
        ["apis", group] => Some(Route::Group((*group).to_owned())),
        ["api", version] => Some(Route::GroupVersion {
            group: String::new(),
            version: (*version).to_owned(),
        }),
        ["apis", group, version] => Some(Route::GroupVersion {
            group: (*group).to_owned(),
            version: (*version).to_owned(),
        }),
        ["openapi", "v3"] => Some(Route::OpenApiV3Index),
        ["openapi", "v3", "api", version] => Some(Route::OpenApiV3 {
            group: String::new(),
            version: (*version).to_owned(),
        }),
        ["openapi", "v3", "apis", group, version] => Some(Route::OpenApiV3 {
            group: (*group).to_owned(),
            version: (*version).to_owned(),
        }),
        ["api", version, rest @ ..] => parse_resource("", version, rest).map(Route::Resource),
        ["apis", group, version, rest @ ..] => {
            parse_resource(group, version, rest).map(Route::Resource)
        }
        _ => None,
    }
}

fn parse_resource(group: &str, version: &str, rest: &[&str]) -> Option<ApiPath> {
    let mut path = ApiPath {
        group: group.to_owned(),
        version: version.to_owned(),
        namespace: None,
        resource: String::new(),
        name: None,
        subresource: None,
        rest: None,
    };
    let core_namespaces = group.is_empty();
    let tail: &[&str] = match rest {
        // The Namespace object itself and its subresources.
        ["namespaces"] if core_namespaces => &["namespaces"],
        ["namespaces", name] if core_namespaces => {
            "namespaces".clone_into(&mut path.resource);
            path.name = Some((*name).to_owned());
            return Some(path);
        }
        ["namespaces", name, sub @ ("status" | "finalize")] if core_namespaces => {
            "namespaces".clone_into(&mut path.resource);
            path.name = Some((*name).to_owned());
            path.subresource = Some((*sub).to_owned());
            return Some(path);
        }
        ["namespaces", ns, tail @ ..] if !tail.is_empty() => {
            path.namespace = Some((*ns).to_owned());
            tail
        }
        other => other,
    };
    match tail {
        [resource] => (*resource).clone_into(&mut path.resource),
        [resource, name] => {
            (*resource).clone_into(&mut path.resource);
            path.name = Some((*name).to_owned());
        }
        [resource, name, sub, more @ ..] => {
            (*resource).clone_into(&mut path.resource);
            path.name = Some((*name).to_owned());
            path.subresource = Some((*sub).to_owned());
            if *sub == "proxy" {
                path.rest = Some(more.join("/"));
            } else if !more.is_empty() {
                return None;
            }
        }
        _ => return None,
    }
    Some(path)
}

/// Query parameters, decoded; the last value of a repeated key wins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query(HashMap<String, String>);

impl Query {
    pub fn parse(raw: Option<&str>) -> Self {
        let mut map = HashMap::new();
        for pair in raw.unwrap_or_default().split('&') {
            if pair.is_empty() {
                continue;
            }
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            map.insert(decode_component(key), decode_component(value));
        }
        Self(map)
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// `watch=true`, `watch=1`, `watch=True`: any case, as the real server's bool parsing.
    pub fn flag(&self, key: &str) -> bool {
        self.0
            .get(key)
            .is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "true" | "1" | "t"))
    }

    pub fn number(&self, key: &str) -> Option<u64> {
        self.get(key).and_then(|v| v.parse().ok())
    }

    /// `dryRun=All`.
    pub fn dry_run(&self) -> bool {
        self.get("dryRun").is_some_and(|v| v == "All")
    }
}

fn decode_component(raw: &str) -> String {
    let spaced = raw.replace('+', " ");
    percent_decode_str(&spaced).decode_utf8_lossy().into_owned()
}

/// What the client's Accept header asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wanted {
    Json,
    Table,
    /// `apidiscovery.k8s.io/v2` aggregated discovery.
    AggregatedV2,
}

/// Reads an Accept header the way the real server negotiates: the first media range it can
/// serve wins.
pub fn negotiate(accept: Option<&str>) -> Wanted {
    let Some(accept) = accept else {
        return Wanted::Json;
    };
    for range in accept.split(',') {
        let params: Vec<&str> = range.split(';').map(str::trim).collect();
        let has = |p: &str| params.iter().any(|x| x.eq_ignore_ascii_case(p));
        if has("as=Table") && has("g=meta.k8s.io") {
            return Wanted::Table;
        }
        if has("as=APIGroupDiscoveryList") && has("v=v2") && has("g=apidiscovery.k8s.io") {
            return Wanted::AggregatedV2;
        }
        if params.first().is_some_and(|media| {
            let m = media.to_ascii_lowercase();
            (m == "application/json" || m == "*/*" || m == "application/*") && params.len() == 1
        }) {
            return Wanted::Json;
        }
    }
    Wanted::Json
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn resource(path: &str) -> ApiPath {
        match parse_route(path) {
            Some(Route::Resource(p)) => p,
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn resource_paths() {
        type Case<'a> = (
            &'a str,
            &'a str,
            Option<&'a str>,
            &'a str,
            Option<&'a str>,
            Option<&'a str>,
        );
        let cases: &[Case<'_>] = &[
            ("/api/v1/pods", "", None, "pods", None, None),
            ("/api/v1/namespaces", "", None, "namespaces", None, None),
            (
                "/api/v1/namespaces/prod",
                "",
                None,
                "namespaces",
                Some("prod"),
                None,
            ),
            (
                "/api/v1/namespaces/prod/status",
                "",
                None,
                "namespaces",
                Some("prod"),
                Some("status"),
            ),
            (
                "/api/v1/namespaces/prod/pods",
                "",
                Some("prod"),
                "pods",
                None,
                None,
            ),
            (
                "/api/v1/namespaces/prod/pods/web/log",
                "",
                Some("prod"),
                "pods",
                Some("web"),
                Some("log"),
            ),
            (
                "/apis/argoproj.io/v1alpha1/namespaces/d/rollouts/x/scale",
                "argoproj.io",
                Some("d"),
                "rollouts",
                Some("x"),
                Some("scale"),
            ),
            (
                "/apis/apps/v1/deployments",
                "apps",
                None,
                "deployments",
                None,
                None,
            ),
            (
                "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/rollouts.argoproj.io",
                "apiextensions.k8s.io",
                None,
                "customresourcedefinitions",
                Some("rollouts.argoproj.io"),
                None,
            ),
        ];
        for (path, group, ns, res, name, sub) in cases {
            let p = resource(path);
            assert_eq!(p.group, *group, "{path}");
            assert_eq!(p.namespace.as_deref(), *ns, "{path}");
            assert_eq!(p.resource, *res, "{path}");
            assert_eq!(p.name.as_deref(), *name, "{path}");
            assert_eq!(p.subresource.as_deref(), *sub, "{path}");
        }
    }

    #[test]
    fn proxy_keeps_the_rest_of_the_path() {
        let p = resource("/api/v1/namespaces/m/services/prometheus:9090/proxy/api/v1/query");
        assert_eq!(p.name.as_deref(), Some("prometheus:9090"));
        assert_eq!(p.subresource.as_deref(), Some("proxy"));
        assert_eq!(p.rest.as_deref(), Some("api/v1/query"));
    }

    #[test]
    fn discovery_routes() {
        assert_eq!(parse_route("/version"), Some(Route::Version));
        assert_eq!(parse_route("/api"), Some(Route::CoreGroups));
        assert_eq!(
            parse_route("/apis/apps/v1"),
            Some(Route::GroupVersion {
                group: "apps".into(),
                version: "v1".into()
            })
        );
        assert_eq!(parse_route("/openapi/v3"), Some(Route::OpenApiV3Index));
        assert_eq!(parse_route("/openapi/v2"), None);
        assert_eq!(parse_route("/apis/a/v1/pods/x/status/extra"), None);
    }

    #[test]
    fn query_quirks() {
        let q = Query::parse(Some(
            "&watch=True&labelSelector=app%3Dweb%2Ctier+in+(a)&timeout=32s",
        ));
        assert!(q.flag("watch"));
        assert_eq!(q.get("labelSelector"), Some("app=web,tier in (a)"));
        assert!(Query::parse(Some("watch=1")).flag("watch"));
        assert!(!Query::parse(Some("watch=false")).flag("watch"));
        assert!(Query::parse(Some("dryRun=All")).dry_run());
    }

    #[test]
    fn accept_negotiation() {
        let kubectl = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
        assert_eq!(negotiate(Some(kubectl)), Wanted::Table);
        let disco = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
        assert_eq!(negotiate(Some(disco)), Wanted::AggregatedV2);
        let old = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
        assert_eq!(negotiate(Some(old)), Wanted::Json);
        assert_eq!(negotiate(Some("application/json, */*")), Wanted::Json);
        assert_eq!(negotiate(None), Wanted::Json);
    }
}
