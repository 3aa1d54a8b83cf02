//! A small header-block parser, for the top-level headers of a bounce, the blocks of its
//! delivery-status part and `text/rfc822-headers` parts. Lenient: lines that are neither fields
//! nor continuations are skipped.

pub(super) type Fields = Vec<(String, String)>;

/// Parses fields up to the first blank line. Returns the fields (lower-case names, unfolded
/// values with surrounding whitespace trimmed) and the offset just past the blank line.
pub(super) fn parse_fields(bytes: &[u8]) -> (Fields, usize) {
    let mut fields: Fields = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let end = bytes[pos..]
            .iter()
            .position(|&c| c == b'\n')
            .map_or(bytes.len(), |i| pos + i + 1);
        let line = &bytes[pos..end];
        pos = end;
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(|c| *c == b' ' || *c == b'\t') {
            break;
        }
        let text = String::from_utf8_lossy(line);
        if line[0] == b' ' || line[0] == b'\t' {
            if let Some((_, value)) = fields.last_mut() {
                if !value.is_empty() {
                    value.push(' ');
                }
                value.push_str(text.trim());
            }
            continue;
        }
        if let Some((name, value)) = text.split_once(':') {
            let name = name.trim_end();
            if !name.is_empty() && name.bytes().all(|c| c.is_ascii_graphic()) {
                fields.push((name.to_ascii_lowercase(), value.trim().to_string()));
            }
        }
    }
    (fields, pos)
}

/// All blank-line separated field blocks (the delivery-status body).
pub(super) fn field_blocks(bytes: &[u8]) -> Vec<Fields> {
    let mut blocks = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let (block, used) = parse_fields(rest);
        if !block.is_empty() {
            blocks.push(block);
        }
        rest = &rest[used.max(1).min(rest.len())..];
    }
    blocks
}

pub(super) fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

pub(super) fn fields<'a>(
    fields: &'a [(String, String)],
    name: &'a str,
) -> impl Iterator<Item = &'a str> {
    fields
        .iter()
        .filter(move |(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}
