//! Reading the list, the first stage: the streaming CSV reader ([`RecipientReader`]) and what it
//! is made of, the deterministic split across hosts ([`shard`]) and the variants a list contains
//! ([`variant`]).
//!
//! The reader's parts, in the order a byte meets them: `decode` (encodings, BOM, sniffing,
//! malformed bytes), `record` (records and cells, blank records, the record-length bound),
//! `columns` (the header), `fields` (the rule for each cell), `validate` (a record becomes a
//! [`Row`], defined in `row`), `keys` and `list_duplicates` (the ids and addresses that repeat,
//! sorted on disk by [`duplicates`]). `identity` is the list's digest and row count, which the
//! journal binds rows to, by the same record rules.

mod columns;
mod decode;
pub(crate) mod duplicates;
mod fields;
pub(crate) mod follow_up;
mod identity;
mod keys;
mod list_duplicates;
mod offsets;
mod reader;
mod record;
mod row;
pub(crate) mod shard;
mod validate;
pub(crate) mod variant;

pub use crate::config::Encoding;
pub use follow_up::{FollowUp, FollowUpKind, FollowUpVariant};
pub use identity::list_identity;
pub(crate) use keys::mailbox_key;
pub(crate) use list_duplicates::ListDuplicates;
pub use offsets::RowOffsets;
pub use reader::{Next, RecipientReader};
pub use row::{FieldSet, Recipient, Row, RowIssue};
pub use shard::Shard;
pub use variant::{Variant, VariantCounts};
