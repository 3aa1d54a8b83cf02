//! Reading and classifying bounces: RFC 3464 delivery status notifications (DSNs) that arrive
//! after a relay has already said 250.
//!
//! Reading and classifying are pure: they know nothing of SMTP sending or of the journal. They
//!
//! * stream raw messages out of mbox files, Maildir folders and single `.eml` files
//!   ([`read_messages`]), one message in memory at a time;
//! * classify one raw message ([`classify()`]) into one [`Classification`] per failed or delayed
//!   recipient, or a single [`Classification::Ignored`] with a reason.
//!
//! Matching a DSN to a recipient (by [`Dsn::original_message_id`], by VERP reference from
//! [`Dsn::envelope_to`] — see [`crate::mail::verp_reference`] — or by [`Dsn::final_recipient`])
//! is the caller's job; [`record`] does it and writes the journal.
//!
//! The pieces: reading mailboxes ([`read`]), classifying one message ([`classify`](mod@classify)),
//! and the lenient header-block parser classification reads fields with ([`fields`]).

mod classify;
mod fields;
mod read;
pub(crate) mod record;

pub use classify::{Classification, Dsn, classify};
pub use read::{Source, read_messages};
