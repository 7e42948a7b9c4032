//! End-to-end tests only (`tests/`): mini-telemetry inside axum, tower-http and reqwest.
