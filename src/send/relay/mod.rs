//! The relay pool: several relays with weights, failover and probing ([`pool`]), what their
//! replies mean ([`rules`]: the built-in table and `[[send.reply_rules]]`), each relay's
//! adaptive rate ([`aimd`]), the error-ratio breaker per destination ([`breaker`]), and the
//! [`session`] that puts them behind the one `Transport` trait the run talks to.
//!
//! Used when `[[send.relays]]` is configured; `send.smtp` / `--smtp` stay the one-relay form
//! with the classification of `send/smtp/classify.rs`.

mod aimd;
mod breaker;
mod pool;
mod rules;
mod session;
mod status;

pub use breaker::{Breaker, destination_key};
pub use rules::ReplyRules;
pub use session::{PoolTransport, Shared};
pub use status::{read_status, write_status};
