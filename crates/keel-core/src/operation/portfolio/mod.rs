//! Clause 8.2 — service portfolio: services and their lifecycle (8.2.1–8.2.3), the catalogue's
//! order forms (8.2.4), configuration items, their relationships and impact analysis (8.2.6).

pub mod asset;
pub mod configuration;
pub mod form;
pub mod service;
