//! Who drives the rollouts in scope: this rolltop's embedded controller, another rolltop
//! (named by its Lease `holderIdentity`), an Argo Rollouts operator, or nobody. The embedded
//! controller reports it; the cockpit's header shows it. Pure data and wording, no I/O.

/// The driver of the rollouts in the cockpit's scope, as last observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Driver {
    /// Not known yet: the first Lease and operator checks are running.
    Checking,
    /// This process holds the Lease and reconciles.
    ThisRolltop {
        /// `namespace/name` of the held Lease.
        lease: String,
    },
    /// Another rolltop holds the Lease.
    OtherRolltop {
        /// Its `holderIdentity` (host, pid, random suffix).
        identity: String,
        /// `namespace/name` of its Lease.
        lease: String,
    },
    /// An Argo Rollouts operator runs in the cluster.
    ArgoOperator {
        /// What gave it away (its Deployment or leader Lease).
        evidence: String,
    },
    /// Nothing reconciles the rollouts: the controller is off, or could not start.
    Nobody {
        /// Why, in a few words: `controller off`, `--readonly`, an API error.
        reason: String,
    },
}

impl Driver {
    /// The short header text: `driver: this rolltop`, `driver: nobody (controller off)`.
    pub fn header_text(&self) -> String {
        match self {
            Self::Checking => "driver: checking…".to_owned(),
            Self::ThisRolltop { .. } => "driver: this rolltop".to_owned(),
            Self::OtherRolltop { identity, .. } => format!("driver: rolltop {identity}"),
            Self::ArgoOperator { .. } => "driver: Argo operator".to_owned(),
            Self::Nobody { reason } => format!("driver: nobody ({reason})"),
        }
    }

    /// The narrow-terminal header text: `ctl: this rolltop`, `ctl: nobody`.
    pub fn compact_text(&self) -> String {
        match self {
            Self::Checking => "ctl: …".to_owned(),
            Self::ThisRolltop { .. } => "ctl: this rolltop".to_owned(),
            Self::OtherRolltop { .. } => "ctl: other rolltop".to_owned(),
            Self::ArgoOperator { .. } => "ctl: Argo".to_owned(),
            Self::Nobody { .. } => "ctl: nobody".to_owned(),
        }
    }

    /// The header text for a view that may differ from the scope the embedded controller was
    /// started for (`driven`/`viewed`: a namespace, `None` for all namespaces). `:ns` changes
    /// what the cockpit shows, never what it drives (a release in flight must not stall
    /// because its operator glanced elsewhere), so when this rolltop drives a namespace the
    /// view does not cover, the header says which one instead of claiming the view.
    pub fn header_for_view(
        &self,
        driven: Option<&str>,
        viewed: Option<&str>,
        compact: bool,
    ) -> String {
        let covered = driven.is_none() || driven == viewed;
        match (self, covered, driven) {
            (Self::ThisRolltop { .. }, false, Some(ns)) if compact => format!("ctl: {ns} only"),
            (Self::ThisRolltop { .. }, false, Some(ns)) => {
                format!("driver: this rolltop drives {ns} only")
            }
            _ if compact => self.compact_text(),
            _ => self.header_text(),
        }
    }

    /// The long form for the status line when the driver changes.
    pub fn describe(&self) -> String {
        match self {
            Self::Checking => "controller: checking the Lease and for an Argo operator".to_owned(),
            Self::ThisRolltop { lease } => {
                format!("controller: this rolltop drives the rollouts in scope (Lease {lease})")
            }
            Self::OtherRolltop { identity, lease } => {
                format!("controller: another rolltop drives ({identity}, Lease {lease})")
            }
            Self::ArgoOperator { evidence } => format!("controller: not driving, {evidence}"),
            Self::Nobody { reason } => format!("controller: nobody drives ({reason})"),
        }
    }

    /// True when no controller at all reconciles: rollouts will not move on their own.
    pub fn is_nobody(&self) -> bool {
        matches!(self, Self::Nobody { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_each_driver() {
        let cases = [
            (Driver::Checking, "driver: checking…"),
            (
                Driver::ThisRolltop {
                    lease: "default/rolltop-controller".into(),
                },
                "driver: this rolltop",
            ),
            (
                Driver::OtherRolltop {
                    identity: "box_42_ab12cd34".into(),
                    lease: "default/rolltop-controller".into(),
                },
                "driver: rolltop box_42_ab12cd34",
            ),
            (
                Driver::ArgoOperator {
                    evidence: "x".into(),
                },
                "driver: Argo operator",
            ),
            (
                Driver::Nobody {
                    reason: "controller off".into(),
                },
                "driver: nobody (controller off)",
            ),
        ];
        for (driver, want) in cases {
            assert_eq!(driver.header_text(), want);
        }
        assert!(
            Driver::Nobody {
                reason: "off".into()
            }
            .is_nobody()
        );
    }

    #[test]
    fn header_names_the_driven_namespace_when_the_view_moved_elsewhere() {
        let this = Driver::ThisRolltop {
            lease: "shop/rolltop-controller".into(),
        };
        let other = Driver::Nobody {
            reason: "controller off".into(),
        };
        let cases = [
            (
                &this,
                Some("shop"),
                Some("shop"),
                false,
                "driver: this rolltop",
            ),
            (&this, None, Some("shop"), false, "driver: this rolltop"),
            (&this, None, None, false, "driver: this rolltop"),
            (
                &this,
                Some("shop"),
                Some("payments"),
                false,
                "driver: this rolltop drives shop only",
            ),
            (
                &this,
                Some("shop"),
                None,
                false,
                "driver: this rolltop drives shop only",
            ),
            (&this, Some("shop"), None, true, "ctl: shop only"),
            (
                &other,
                Some("shop"),
                Some("payments"),
                false,
                "driver: nobody (controller off)",
            ),
        ];
        for (driver, driven, viewed, compact, want) in cases {
            assert_eq!(
                driver.header_for_view(driven, viewed, compact),
                want,
                "{driven:?} {viewed:?}"
            );
        }
    }
}
