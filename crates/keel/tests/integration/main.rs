//! Integration tests: the real HTTP API (the production router, in process) against real SQLite
//! files and a real PostgreSQL database, plus black-box tests of the `keel` binary.
//! Every story runs on both databases (see `db_test!`).

mod common;

mod access;
mod api;
mod cli;
mod compliance;
mod filters;
mod incidents;
mod integrations;
mod knowledge;
mod layers;
mod operations;
mod portfolio;
mod problems;
mod requests;
mod schema;
mod search;
mod service_levels;
mod transition;
mod ui;
