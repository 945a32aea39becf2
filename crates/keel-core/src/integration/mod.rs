//! The rules of the channels through which work reaches the desk and events leave it: monitoring
//! alerts and mail open incidents and requests (8.6.1, 8.6.2), webhooks tell other systems.
//! Parsing of the wire formats happens at the edge; what to *do* with a message is decided here.

pub mod alert;
pub mod mail;
pub mod webhook;
