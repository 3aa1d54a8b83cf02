//! The message: what goes into it ([`message`]), the MIME message in either charset ([`mime`]),
//! RFC 2047 encoded words
//! in both directions ([`rfc2047`]), DKIM signing ([`dkim`]), VERP return paths ([`verp`]), and
//! the scan that turns each row of the list into a rendered, checked notice ([`scan`]).

pub(crate) mod dkim;
pub(crate) mod message;
pub(crate) mod mime;
mod rfc2047;
pub(crate) mod scan;
pub(crate) mod verp;

pub use crate::util::iso2022jp::{
    decode_iso2022jp, encode_body_iso2022jp, encode_iso2022jp, jis_safe_fixed_text,
};
pub use dkim::{DkimSigner, KEY_FILE_ENV, KeyAlgorithm, key_path_from};
pub use message::MessageBuilder;
pub use mime::{Charset, Headers, MessageError, Part, build_iso2022jp_message, build_message};
pub(crate) use rfc2047::decode_encoded_words;
pub use rfc2047::{encode_header_value, encode_header_words};
pub use verp::{verp_address, verp_reference};
