//! Reading the list: the streaming CSV reader with its encodings, columns and row validation
//! ([`reader`]), duplicate detection in bounded memory ([`duplicates`]), the deterministic split
//! across hosts ([`shard`]) and the variants a list contains ([`variant`]).

mod columns;
mod decode;
pub(crate) mod duplicates;
mod fields;
mod identity;
mod keys;
mod reader;
mod record;
mod row;
pub(crate) mod shard;
pub(crate) mod variant;

pub use identity::list_identity;
pub(crate) use keys::mailbox_key;
pub(crate) use reader::ListDuplicates;
pub use reader::{Encoding, Next, RecipientReader};
pub use row::{FieldSet, Recipient, Row, RowIssue};
pub use shard::Shard;
pub use variant::{Variant, VariantCounts};
