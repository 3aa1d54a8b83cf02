//! The scheduler: a queue per destination group and send window (a *lane*), filled by one
//! cursor over the list per lane (`producer`), drained by the workers through one dispatcher
//! that hands each free worker the next message of whichever lane may send now.
//!
//! ```text
//! list ─▶ cursor (lane 0: validates, journals refusals) ─▶ queue 0 ─┐
//!    └──▶ cursor (lane k: its own rows only)            ─▶ queue k ─┤ dispatcher ─▶ free worker
//!                                                                   │  group permit, window,
//!                                                                   │  daily cap, global permit
//! ```
//!
//! Why cursors and not one reader: a single reader in list order must either stop at a row
//! of a group at its limit (and everyone waits: the whole campaign ran at the slowest
//! carrier's rate ÷ its share of the list) or keep the rows it cannot send yet in memory (a
//! backlog that grows with the list). A cursor per lane reads ahead only as far as its own
//! queue has room, so memory is a few messages per lane whatever the mix, and resume needs
//! nothing new: every cursor passes over the rows the journal has as done.

mod daily;
mod dispatch;
mod lanes;
mod lead;
mod window;

pub(crate) use dispatch::{Dispatcher, WorkSource};
pub(crate) use lanes::{Lanes, domain_of};
pub(crate) use lead::{Lead, LeadGuard, Verdict};
