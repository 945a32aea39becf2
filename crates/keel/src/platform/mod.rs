//! Cross-cutting machinery every process uses: storage, configuration, errors, authentication,
//! the HTTP shell, the HTML shell, background jobs and metrics.

pub mod audit;
pub mod auth;
pub mod config;
pub mod csv;
pub mod db;
pub mod error;
pub mod extract;
pub mod http;
pub mod jobs;
pub mod memory;
pub mod metrics;
pub mod outbox;
pub mod point_reads;
pub mod tls;
pub mod ui;
pub mod web;
