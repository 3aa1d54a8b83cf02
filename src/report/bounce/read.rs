//! Reading bounces out of mailboxes: mbox files, Maildir folders and single `.eml` files,
//! streamed one message at a time and never more than [`MAX_MESSAGE_BYTES`] of it in memory.

use std::collections::VecDeque;
use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};
use serde::{Deserialize, Serialize};

/// Where a message came from, for reporting: `bounces.mbox#1234` (1-based position in the
/// mbox file), `Maildir/cur/1700000000.x:2,S` (the message file), or `file.eml`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Source(pub String);

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Streams every message in `paths`, in order; see [`Messages`].
pub fn read_messages(paths: &[PathBuf]) -> Messages {
    Messages {
        pending: paths.iter().cloned().collect(),
        current: Current::None,
    }
}

/// Iterator over the messages of several mailboxes, returned by [`read_messages`].
///
/// Each path is auto-detected when the iterator reaches it:
///
/// * a directory with `cur/` and `new/` is a Maildir folder: the messages of `cur/` then `new/`
///   (subfolders such as `.Trash` are not visited; name them explicitly if wanted);
/// * a file whose first bytes are `From ` is an mbox file (mboxrd `>From ` unquoting);
/// * any other file is a single message (`.eml`), yielded as is, even when empty.
///
/// Only one message is held in memory at a time, and at most [`MAX_MESSAGE_BYTES`] of it: a
/// larger message yields an `Err` and the next one follows.
///
/// Errors are yielded as items and iteration goes on: a path that cannot be opened or is not a
/// mailbox yields one `Err` and the next path follows; an unreadable Maildir message yields an
/// `Err` and the folder goes on; a read error in the middle of an mbox file yields an `Err` and
/// the rest of that file is skipped (the error names the last good message).
pub struct Messages {
    pending: VecDeque<PathBuf>,
    current: Current,
}

/// Largest message read, in bytes: far above any real bounce (which quotes at most the
/// original headers), far below what would strain memory. A larger message is skipped with a
/// warning (counted as unreadable), so a hostile mailbox or `/dev/zero` never grows memory.
const MAX_MESSAGE_BYTES: usize = 10 * 1024 * 1024;

/// How much of an mbox line is read at once: a line without a newline is read in pieces.
const MBOX_CHUNK: u64 = 64 * 1024;

enum Current {
    None,
    Mbox {
        name: String,
        reader: MboxReader,
        count: usize,
    },
    Maildir {
        files: VecDeque<PathBuf>,
    },
}

/// An mboxrd reader that holds at most [`MAX_MESSAGE_BYTES`] of a message and at most
/// [`MBOX_CHUNK`] of a line (mail-parser's reader holds whole messages and whole lines).
struct MboxReader {
    reader: BufReader<File>,
    /// A `From ` separator line has been read: a message is open.
    started: bool,
    done: bool,
}

enum MboxMessage {
    Complete(Vec<u8>),
    TooLarge,
}

impl MboxReader {
    fn next(&mut self) -> Option<std::io::Result<MboxMessage>> {
        if self.done {
            return None;
        }
        let finish = |contents: Vec<u8>, too_large: bool| {
            if too_large {
                MboxMessage::TooLarge
            } else {
                MboxMessage::Complete(contents)
            }
        };
        let mut contents = Vec::new();
        let mut too_large = false;
        let mut at_line_start = true;
        let mut line = Vec::new();
        loop {
            line.clear();
            let n = match (&mut self.reader)
                .take(MBOX_CHUNK)
                .read_until(b'\n', &mut line)
            {
                Ok(n) => n,
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            };
            if n == 0 {
                self.done = true;
                return self.started.then(|| Ok(finish(contents, too_large)));
            }
            let complete = line.ends_with(b"\n");
            if at_line_start && line.starts_with(b"From ") {
                // The separator: skip the rest of an overlong one.
                let mut rest_complete = complete;
                while !rest_complete {
                    line.clear();
                    match (&mut self.reader)
                        .take(MBOX_CHUNK)
                        .read_until(b'\n', &mut line)
                    {
                        Ok(0) => break,
                        Ok(_) => rest_complete = line.ends_with(b"\n"),
                        Err(e) => {
                            self.done = true;
                            return Some(Err(e));
                        }
                    }
                }
                if self.started {
                    return Some(Ok(finish(contents, too_large)));
                }
                self.started = true;
                continue;
            }
            let at_start = at_line_start;
            at_line_start = complete;
            if !self.started {
                continue;
            }
            let mut data: &[u8] = &line;
            if at_start && data.starts_with(b">") {
                // mboxrd: `>From ` (any number of `>`) loses one `>`.
                let i = data.iter().position(|&c| c != b'>').unwrap_or(data.len());
                if data[i..].starts_with(b"From ") {
                    data = &data[1..];
                }
            }
            if too_large {
                continue;
            }
            if contents.len() + data.len() > MAX_MESSAGE_BYTES {
                too_large = true;
                contents = Vec::new();
            } else {
                contents.extend_from_slice(data);
            }
        }
    }
}

/// The whole of a file of at most [`MAX_MESSAGE_BYTES`], after `head` (already read from it).
fn read_capped(mut file: impl Read, mut head: Vec<u8>, name: &str) -> Result<Vec<u8>> {
    (&mut file)
        .take((MAX_MESSAGE_BYTES + 1 - head.len().min(MAX_MESSAGE_BYTES)) as u64)
        .read_to_end(&mut head)
        .with_context(|| format!("reading {name}"))?;
    if head.len() > MAX_MESSAGE_BYTES {
        anyhow::bail!(
            "{name}: message larger than {} MiB; skipped",
            MAX_MESSAGE_BYTES >> 20
        );
    }
    Ok(head)
}

impl Iterator for Messages {
    type Item = Result<(Source, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match &mut self.current {
                Current::None => {
                    let path = self.pending.pop_front()?;
                    match open(&path) {
                        Ok(Opened::Single(item)) => return Some(Ok(item)),
                        Ok(Opened::Mailbox(current)) => self.current = current,
                        Err(e) => return Some(Err(e)),
                    }
                }
                Current::Mbox {
                    name,
                    reader,
                    count,
                } => match reader.next() {
                    Some(Ok(message)) => {
                        *count += 1;
                        let source = Source(format!("{name}#{count}"));
                        match message {
                            MboxMessage::Complete(raw) => return Some(Ok((source, raw))),
                            MboxMessage::TooLarge => {
                                return Some(Err(anyhow!(
                                    "{source}: message larger than {} MiB; skipped",
                                    MAX_MESSAGE_BYTES >> 20
                                )));
                            }
                        }
                    }
                    Some(Err(e)) => {
                        let err = anyhow!(e).context(format!(
                            "reading mbox {name} after message #{count}; rest of file skipped"
                        ));
                        self.current = Current::None;
                        return Some(Err(err));
                    }
                    None => self.current = Current::None,
                },
                Current::Maildir { files } => match files.pop_front() {
                    Some(path) => {
                        let name = path.display().to_string();
                        let read = File::open(&path)
                            .with_context(|| format!("opening Maildir message {name}"))
                            .and_then(|file| read_capped(file, Vec::new(), &name));
                        return Some(read.map(|raw| (Source(name), raw)));
                    }
                    None => self.current = Current::None,
                },
            }
        }
    }
}

/// The messages of a Maildir folder: the files of `cur/` then `new/`, each in name order
/// (names starting with `.` are not messages).
fn maildir_files(path: &Path) -> std::io::Result<VecDeque<PathBuf>> {
    let mut all = VecDeque::new();
    for sub in ["cur", "new"] {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(path.join(sub))? {
            let entry = entry?;
            let hidden = entry.file_name().as_encoded_bytes().starts_with(b".");
            if !hidden && entry.file_type()?.is_file() {
                files.push(entry.path());
            }
        }
        files.sort();
        all.extend(files);
    }
    Ok(all)
}

enum Opened {
    Single((Source, Vec<u8>)),
    Mailbox(Current),
}

fn open(path: &Path) -> Result<Opened> {
    let name = path.display().to_string();
    let meta = std::fs::metadata(path).with_context(|| format!("opening {name}"))?;
    if meta.is_dir() {
        if !path.join("cur").is_dir() || !path.join("new").is_dir() {
            anyhow::bail!("{name} is a directory but not a Maildir folder (no cur/ and new/)");
        }
        let files = maildir_files(path).with_context(|| format!("opening Maildir {name}"))?;
        return Ok(Opened::Mailbox(Current::Maildir { files }));
    }
    let mut file = File::open(path).with_context(|| format!("opening {name}"))?;
    let mut head = Vec::with_capacity(5);
    (&mut file)
        .take(5)
        .read_to_end(&mut head)
        .with_context(|| format!("reading {name}"))?;
    if head == b"From " {
        // Reopen rather than seek, so the mbox reader sees the file from its first byte.
        let file = File::open(path).with_context(|| format!("opening {name}"))?;
        let reader = MboxReader {
            reader: BufReader::with_capacity(64 * 1024, file),
            started: false,
            done: false,
        };
        return Ok(Opened::Mailbox(Current::Mbox {
            name,
            reader,
            count: 0,
        }));
    }
    let raw = read_capped(file, head, &name)?;
    Ok(Opened::Single((Source(name), raw)))
}
