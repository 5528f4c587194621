//! Building a `kube::Client` from the global cluster flags, as kubectl would: `--kubeconfig`
//! (else `$KUBECONFIG`, which may list several files, else `~/.kube/config`), `--context`,
//! and the scope (`-n`, `-A`, else the context's namespace).

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

use crate::cli::args::ClusterArgs;

/// Which namespaces a command or the cockpit looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every namespace (`-A`).
    AllNamespaces,
    /// One namespace (`-n`, or the context's default).
    Namespace(String),
}

impl Scope {
    /// The namespace, or `None` for all namespaces.
    pub fn namespace(&self) -> Option<&str> {
        match self {
            Scope::AllNamespaces => None,
            Scope::Namespace(ns) => Some(ns),
        }
    }
}

/// A connected client and what it is pointed at.
#[derive(Clone)]
pub struct Connection {
    pub client: Client,
    pub scope: Scope,
    /// The context name, for headers and audit lines.
    pub context: String,
    /// The API server URL, for headers.
    pub cluster_url: String,
}

/// Why a connection could not be made; each says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("reading kubeconfig {path}: {source}")]
    ReadKubeconfig {
        path: String,
        source: kube::config::KubeconfigError,
    },
    #[error("no kubeconfig found: set --kubeconfig or KUBECONFIG, or create ~/.kube/config")]
    NoKubeconfig,
    #[error("loading kubeconfig: {0}")]
    Kubeconfig(#[from] kube::config::KubeconfigError),
    #[error("building the client: {0}")]
    Client(#[from] kube::Error),
}

/// The scope the flags ask for, with `default_namespace` from the context.
pub fn scope_for(args: &ClusterArgs, default_namespace: &str) -> Scope {
    if args.all_namespaces {
        Scope::AllNamespaces
    } else if let Some(ns) = &args.namespace {
        Scope::Namespace(ns.clone())
    } else {
        Scope::Namespace(default_namespace.to_owned())
    }
}

/// Loads the kubeconfig the flags name (merging every file of `$KUBECONFIG`).
pub fn load_kubeconfig(args: &ClusterArgs) -> Result<Kubeconfig, ConnectError> {
    if let Some(path) = &args.kubeconfig {
        return Kubeconfig::read_from(path).map_err(|source| ConnectError::ReadKubeconfig {
            path: path.display().to_string(),
            source,
        });
    }
    match Kubeconfig::from_env() {
        Ok(Some(config)) => Ok(config),
        Ok(None) => Kubeconfig::read().map_err(|_| ConnectError::NoKubeconfig),
        Err(error) => Err(error.into()),
    }
}

/// The kubeconfig user name of `context` (else of the current context), for audit lines.
pub fn context_user(kubeconfig: &Kubeconfig, context: Option<&str>) -> Option<String> {
    let name = context.or(kubeconfig.current_context.as_deref())?;
    kubeconfig
        .contexts
        .iter()
        .find(|named| named.name == name)
        .and_then(|named| named.context.as_ref())
        .and_then(|context| context.user.clone())
}

/// Connects as kubectl would with the same flags.
pub async fn connect(args: &ClusterArgs) -> Result<Connection, ConnectError> {
    let kubeconfig = load_kubeconfig(args)?;
    let options = KubeConfigOptions {
        context: args.context.clone(),
        ..KubeConfigOptions::default()
    };
    let context = args
        .context
        .clone()
        .or_else(|| kubeconfig.current_context.clone())
        .unwrap_or_default();
    let config = Config::from_custom_kubeconfig(kubeconfig, &options).await?;
    let cluster_url = config.cluster_url.to_string();
    let scope = scope_for(args, &config.default_namespace);
    let client = Client::try_from(config)?;
    Ok(Connection {
        client,
        scope,
        context,
        cluster_url,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_follows_kubectl() {
        let mut args = ClusterArgs::default();
        assert_eq!(
            scope_for(&args, "team"),
            Scope::Namespace("team".to_owned())
        );
        args.namespace = Some("shop".to_owned());
        assert_eq!(
            scope_for(&args, "team"),
            Scope::Namespace("shop".to_owned())
        );
        args.namespace = None;
        args.all_namespaces = true;
        assert_eq!(scope_for(&args, "team"), Scope::AllNamespaces);
        assert_eq!(Scope::AllNamespaces.namespace(), None);
    }
}
