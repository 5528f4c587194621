//! The cockpit's Prometheus HTTP client (instant and range queries), with caching and rate
//! limits. Not built yet.
