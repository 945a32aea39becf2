//! Clause 8.2 — service portfolio: services and their plans (`service`, 8.2.1–8.2.3), the
//! catalogue customers order from (`catalogue`, 8.2.4), configuration items, relationships and
//! impact analysis (`configuration`, `graph`, 8.2.6).

pub mod affected;
pub mod asset;
pub mod baseline;
pub mod catalogue;
pub mod configuration;
pub mod graph;
pub mod service;
pub mod transfer;
pub mod ui;

use crate::platform::error::AppError;

/// A typed form's error names the field it is about.
impl From<keel_core::operation::portfolio::form::FormError> for AppError {
    fn from(e: keel_core::operation::portfolio::form::FormError) -> Self {
        AppError::Invalid {
            field: e.field,
            detail: e.detail,
        }
    }
}
