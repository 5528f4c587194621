//! The cockpit's Prometheus client: instant and range queries for the charts of the triage and
//! detail views and the re-checks, routed to `--prometheus URL`, the template's address, or through the Kubernetes
//! API service proxy of the current context (`route`). How often charts may query is decided by
//! the pure `budget` schedule and cache; this module only does the I/O. Answers are parsed with
//! the analysis engine's own Prometheus code (`controller::analysis::prometheus`), so a chart
//! and a measurement read a response the same way. Boundaries: no terminal, no `app` types.

pub mod budget;
pub mod route;

use std::time::Duration;

use chrono::{DateTime, Utc};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::controller::analysis::prometheus::{
    self as engine, Endpoint, PrometheusQueryError, QueryData, Series, format_unix_time,
    parse_response,
};

pub use budget::{AnswerCache, RefreshPolicy, RefreshSchedule};
pub use route::{ChooseRouteError, Route, choose_route};

/// How long one chart or re-check query may take.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(10);

/// A query that did not produce an answer, with the route it took.
#[derive(Debug, thiserror::Error)]
pub enum PrometheusCallError {
    #[error(transparent)]
    Route(#[from] ChooseRouteError),
    #[error("Prometheus via {route}: {source}")]
    Query {
        route: String,
        #[source]
        source: PrometheusQueryError,
    },
    #[error("Prometheus via {route}: {detail}")]
    Proxy { route: String, detail: String },
    #[error("Prometheus via {0}: the cockpit has no Kubernetes client for the service proxy")]
    NoKubeClient(String),
    #[error("Prometheus via {route}: a range query answered with a {kind}, not a matrix")]
    NotMatrix { route: String, kind: &'static str },
}

/// The client; cheap to clone (both inner clients are shared handles).
#[derive(Clone)]
pub struct PrometheusClient {
    kube: Option<kube::Client>,
    http: reqwest::Client,
    override_url: Option<String>,
}

impl PrometheusClient {
    pub fn new(
        kube: Option<kube::Client>,
        override_url: Option<String>,
    ) -> Result<Self, PrometheusQueryError> {
        Ok(Self {
            kube,
            http: engine::shared_client(false)?,
            override_url,
        })
    }

    /// The route for a metric whose template names `template_address`.
    pub fn route_for(&self, template_address: Option<&str>) -> Result<Route, ChooseRouteError> {
        choose_route(template_address, self.override_url.as_deref())
    }

    /// An instant query at `at`.
    pub async fn instant(
        &self,
        route: &Route,
        query: &str,
        at: DateTime<Utc>,
    ) -> Result<QueryData, PrometheusCallError> {
        let time = format_unix_time(at);
        let params = [("query", query), ("time", time.as_str())];
        match route {
            Route::Direct(url) => {
                let address =
                    engine::resolve_address(url).map_err(|source| query_error(route, source))?;
                let endpoint = self.endpoint(&address);
                engine::instant_query(&endpoint, query, at)
                    .await
                    .map(|r| r.data)
                    .map_err(|source| query_error(route, source))
            }
            Route::ServiceProxy { .. } => self.via_proxy(route, "query", &params).await,
        }
    }

    /// A range query over `[start, end]` every `step`: every series with its points.
    pub async fn range(
        &self,
        route: &Route,
        query: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        step: Duration,
    ) -> Result<Vec<Series>, PrometheusCallError> {
        let data = match route {
            Route::Direct(url) => {
                let address =
                    engine::resolve_address(url).map_err(|source| query_error(route, source))?;
                let endpoint = self.endpoint(&address);
                engine::range_query(&endpoint, query, start, end, step)
                    .await
                    .map(|r| r.data)
                    .map_err(|source| query_error(route, source))?
            }
            Route::ServiceProxy { .. } => {
                let start = format_unix_time(start);
                let end = format_unix_time(end);
                let step = format!("{}", step.as_secs_f64());
                let params = [
                    ("query", query),
                    ("start", start.as_str()),
                    ("end", end.as_str()),
                    ("step", step.as_str()),
                ];
                self.via_proxy(route, "query_range", &params).await?
            }
        };
        match data {
            QueryData::Matrix(series) => Ok(series),
            other => Err(PrometheusCallError::NotMatrix {
                route: route.describe(),
                kind: match other {
                    QueryData::Vector(_) => "vector",
                    QueryData::Scalar(_) => "scalar",
                    _ => "string",
                },
            }),
        }
    }

    fn endpoint<'a>(&'a self, address: &'a reqwest::Url) -> Endpoint<'a> {
        Endpoint {
            client: &self.http,
            address,
            timeout: QUERY_TIMEOUT,
            headers: &[],
            basic_auth: None,
        }
    }

    /// `GET` through the API server's service proxy; the answer is parsed like a direct one.
    async fn via_proxy(
        &self,
        route: &Route,
        api: &str,
        params: &[(&str, &str)],
    ) -> Result<QueryData, PrometheusCallError> {
        let Route::ServiceProxy {
            namespace,
            service,
            port,
        } = route
        else {
            return Err(PrometheusCallError::Proxy {
                route: route.describe(),
                detail: "not a service-proxy route".to_owned(),
            });
        };
        let Some(client) = &self.kube else {
            return Err(PrometheusCallError::NoKubeClient(route.describe()));
        };
        let path = Route::proxy_path(namespace, service, *port, api);
        let query = encode_query(params);
        let proxy_error = |detail: String| PrometheusCallError::Proxy {
            route: route.describe(),
            detail,
        };
        let request = http::Request::get(format!("{path}?{query}"))
            .body(Vec::new())
            .map_err(|e| proxy_error(e.to_string()))?;
        let request_future = client.request_text(request);
        let body = tokio::time::timeout(QUERY_TIMEOUT, request_future)
            .await
            .map_err(|_| proxy_error(format!("no answer within {}s", QUERY_TIMEOUT.as_secs())))?
            .map_err(|e| proxy_error(e.to_string()))?;
        parse_response(200, &body)
            .map(|r| r.data)
            .map_err(|source| query_error(route, source))
    }
}

fn query_error(route: &Route, source: PrometheusQueryError) -> PrometheusCallError {
    PrometheusCallError::Query {
        route: route.describe(),
        source,
    }
}

/// Unreserved characters stay as they are; everything else is percent-encoded.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `a=1&b=x%20y`, percent-encoded for a URL query string.
fn encode_query(params: &[(&str, &str)]) -> String {
    params
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                utf8_percent_encode(k, QUERY_VALUE),
                utf8_percent_encode(v, QUERY_VALUE)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_form_encoded() {
        assert_eq!(
            encode_query(&[("query", "sum(rate(x{a=\"b\"}[5m])) > 0"), ("time", "1.5")]),
            "query=sum%28rate%28x%7Ba%3D%22b%22%7D%5B5m%5D%29%29%20%3E%200&time=1.5"
        );
    }
}
