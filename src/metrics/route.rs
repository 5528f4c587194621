//! Where the cockpit sends a Prometheus query: `--prometheus URL` wins over the template's
//! address; an address that names a cluster Service (`NAME.NAMESPACE.svc[.DOMAIN][:PORT]`) is
//! reached through the API server's service proxy of the current context, so charts work over
//! SSH without port-forwards; any other address is called directly. Pure.

/// How to reach one Prometheus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Plain HTTP(S) to this base URL.
    Direct(String),
    /// `/api/v1/namespaces/{namespace}/services/{service}:{port}/proxy/…` on the API server.
    ServiceProxy {
        namespace: String,
        service: String,
        port: u16,
    },
}

impl Route {
    /// Where a request goes, for messages ("via the API proxy to monitoring/prometheus:9090").
    pub fn describe(&self) -> String {
        match self {
            Self::Direct(url) => url.clone(),
            Self::ServiceProxy {
                namespace,
                service,
                port,
            } => format!("API proxy {namespace}/{service}:{port}"),
        }
    }

    /// The API-server path of `api` (`query`, `query_range`) behind the service proxy.
    pub fn proxy_path(namespace: &str, service: &str, port: u16, api: &str) -> String {
        format!("/api/v1/namespaces/{namespace}/services/{service}:{port}/proxy/api/v1/{api}")
    }
}

/// Why no route could be chosen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChooseRouteError {
    #[error(
        "no Prometheus address: the metric has none and --prometheus was not given \
         (set --prometheus URL or the provider's address)"
    )]
    NoAddress,
    #[error("Prometheus address {0:?} is not an http(s) URL")]
    NotHttp(String),
}

/// The route for a metric whose template says `template_address`, given `--prometheus`.
pub fn choose_route(
    template_address: Option<&str>,
    override_url: Option<&str>,
) -> Result<Route, ChooseRouteError> {
    let address = override_url
        .or(template_address)
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .ok_or(ChooseRouteError::NoAddress)?;
    let (scheme, rest) = address
        .split_once("://")
        .ok_or_else(|| ChooseRouteError::NotHttp(address.to_owned()))?;
    let default_port = match scheme {
        "http" => 80,
        "https" => 443,
        _ => return Err(ChooseRouteError::NotHttp(address.to_owned())),
    };
    let authority = rest.split('/').next().unwrap_or_default();
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) => match port.parse::<u16>() {
            Ok(port) => (host, port),
            Err(_) => return Err(ChooseRouteError::NotHttp(address.to_owned())),
        },
        None => (authority, default_port),
    };
    let labels: Vec<&str> = host.split('.').collect();
    // NAME.NAMESPACE.svc, optionally followed by the cluster domain (cluster.local).
    if labels.len() >= 3 && labels[2] == "svc" && !labels[0].is_empty() && !labels[1].is_empty() {
        return Ok(Route::ServiceProxy {
            namespace: labels[1].to_owned(),
            service: labels[0].to_owned(),
            port,
        });
    }
    Ok(Route::Direct(address.trim_end_matches('/').to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::type_complexity)]
    fn routes() {
        let proxy = |ns: &str, svc: &str, port| Route::ServiceProxy {
            namespace: ns.into(),
            service: svc.into(),
            port,
        };
        let cases: [(Option<&str>, Option<&str>, Result<Route, ChooseRouteError>); 8] = [
            (
                Some("http://prometheus.monitoring.svc:9090"),
                None,
                Ok(proxy("monitoring", "prometheus", 9090)),
            ),
            (
                Some("http://prometheus-server.obs.svc.cluster.local"),
                None,
                Ok(proxy("obs", "prometheus-server", 80)),
            ),
            (
                Some("http://127.0.0.1:9090/"),
                None,
                Ok(Route::Direct("http://127.0.0.1:9090".into())),
            ),
            (
                Some("http://prometheus.monitoring.svc:9090"),
                Some("https://prom.example.com"),
                Ok(Route::Direct("https://prom.example.com".into())),
            ),
            (
                None,
                Some("http://prom.m.svc:9090"),
                Ok(proxy("m", "prom", 9090)),
            ),
            (None, None, Err(ChooseRouteError::NoAddress)),
            (Some("  "), None, Err(ChooseRouteError::NoAddress)),
            (
                Some("prometheus:9090"),
                None,
                Err(ChooseRouteError::NotHttp("prometheus:9090".into())),
            ),
        ];
        for (template, flag, want) in cases {
            assert_eq!(choose_route(template, flag), want, "{template:?} {flag:?}");
        }
    }

    #[test]
    fn proxy_path_names_service_and_port() {
        assert_eq!(
            Route::proxy_path("monitoring", "prometheus", 9090, "query_range"),
            "/api/v1/namespaces/monitoring/services/prometheus:9090/proxy/api/v1/query_range"
        );
    }
}
