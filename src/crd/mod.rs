//! Argo-compatible custom resource types, group `argoproj.io`, version `v1alpha1`.
