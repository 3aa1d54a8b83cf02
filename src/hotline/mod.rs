//! The hotline service, `tsuchi serve`: what call-centre agents use the day the notices go
//! out — a read-only page and a JSON API answering "did you send me this? which of my data
//! leaked? am I affected?" by reference number or customer id, never with personal data.
//!
//! Named agents with hashed tokens ([`agents`]), the audit log of every lookup ([`audit`]),
//! and the service itself ([`server`]). The answers are [`crate::report::answer`]'s.

mod agents;
mod audit;
mod server;
mod tls;

pub use agents::{add_agent, agent_count, agents_path, remove_agent};
pub use audit::audit_path;
pub use server::{ServeSettings, serve};
pub use tls::TlsListener;
