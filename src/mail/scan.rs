//! The list read row by row, each row validated and its notice rendered and linted: the one
//! pass `check`, `preview` and `send` share, so a row that `check` passes is exactly a row that
//! `send` will mail.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::config::Config;
use crate::ingest::shard::Shard;
use crate::ingest::{Encoding, Next, Recipient, RecipientReader, Row, RowIssue};
use crate::mail::message::MessageBuilder;
use crate::render::notice::{Notice, Person, Renderer};

/// One row of the list after validation and rendering.
pub enum Scanned {
    /// A valid row and its notice, with warnings (legacy address, same address under two
    /// brands, …) that do not stop it.
    Ready {
        recipient: Recipient,
        notice: Notice,
        warnings: Vec<RowIssue>,
        /// The campaign's charset cannot carry this notice: it goes out in UTF-8.
        fallback: bool,
    },
    /// A row that will not be sent, with every reason.
    Refused {
        row: u64,
        id: Option<String>,
        errors: Vec<RowIssue>,
    },
}

/// Streams the recipients file through validation and rendering.
pub struct Scanner<'r> {
    reader: RecipientReader,
    renderer: &'r Renderer,
    builder: Option<&'r MessageBuilder>,
    shard: Option<Shard>,
    file: PathBuf,
}

impl<'r> Scanner<'r> {
    pub fn open(
        path: &Path,
        config: &Config,
        encoding: Encoding,
        renderer: &'r Renderer,
    ) -> Result<Scanner<'r>> {
        let reader = RecipientReader::open(path, config, encoding)?;
        Ok(Scanner {
            reader,
            renderer,
            builder: None,
            shard: None,
            file: path.to_path_buf(),
        })
    }

    /// A scanner over an already opened reader.
    pub fn from_reader(
        reader: RecipientReader,
        path: &Path,
        renderer: &'r Renderer,
    ) -> Scanner<'r> {
        Scanner {
            reader,
            renderer,
            builder: None,
            shard: None,
            file: path.to_path_buf(),
        }
    }

    /// Also checks that each notice can be written in the campaign's charset: a row that
    /// needs the UTF-8 fallback is marked, one that may not fall back is refused.
    pub fn with_builder(mut self, builder: &'r MessageBuilder) -> Scanner<'r> {
        self.builder = Some(builder);
        self
    }

    /// Only the rows of `shard` (all rows when `None`).
    pub fn with_shard(mut self, shard: Option<Shard>) -> Scanner<'r> {
        self.shard = shard;
        self
    }

    /// The next row, validated but not yet rendered: callers that skip most rows (a resumed
    /// campaign) render only the ones they keep, with [`Scanner::render`].
    pub fn next_row(&mut self) -> Option<Result<Row>> {
        loop {
            match self.reader.next()? {
                Ok(row) if !crate::ingest::shard::keeps(self.shard, &row) => continue,
                other => return Some(other),
            }
        }
    }

    /// Like [`Scanner::next_row`], passing over the rows for which `finished(row)` holds
    /// without validating them ([`RecipientReader::next_unless_finished`]).
    pub fn next_row_unless_finished(
        &mut self,
        finished: impl Fn(u64) -> bool,
    ) -> Option<Result<Next>> {
        loop {
            match self.reader.next_unless_finished(&finished)? {
                Ok(Next::Row(row)) if !crate::ingest::shard::keeps(self.shard, &row) => continue,
                other => return Some(other),
            }
        }
    }

    pub fn detected_encoding(&self) -> &'static str {
        self.reader.detected_encoding()
    }

    /// Renders one valid recipient; a rendering or lint failure refuses the row.
    pub fn render(&self, recipient: Recipient, warnings: Vec<RowIssue>) -> Scanned {
        render_recipient(self.renderer, self.builder, &self.file, recipient, warnings)
    }

    /// Runs the whole scan on two threads — this one renders while another reads and
    /// validates the list — calling `f` for every row in order. `f` may stop the scan early by
    /// returning an error. Returns the reader, at the end of the list.
    pub fn for_each_parallel(
        self,
        mut f: impl FnMut(Result<Scanned>) -> Result<()>,
    ) -> Result<RecipientReader> {
        let Scanner {
            reader,
            renderer,
            builder,
            shard,
            file,
        } = self;
        std::thread::scope(|scope| {
            let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Result<Row>>>(16);
            let reading = scope.spawn(move || {
                let mut reader = reader;
                let mut batch = Vec::with_capacity(256);
                for row in reader.by_ref() {
                    let keep = match &row {
                        Ok(r) => crate::ingest::shard::keeps(shard, r),
                        Err(_) => true,
                    };
                    if keep {
                        batch.push(row);
                    }
                    if batch.len() == 256 && tx.send(std::mem::take(&mut batch)).is_err() {
                        return reader;
                    }
                }
                let _ = tx.send(batch);
                reader
            });
            for batch in rx {
                for row in batch {
                    f(row.map(|row| scan_row(renderer, builder, &file, row)))?;
                }
            }
            reading
                .join()
                .map_err(|_| anyhow::anyhow!("reading {} failed", file.display()))
        })
    }
}

/// A validated row rendered (valid) or passed on with its problems (invalid).
fn scan_row(
    renderer: &Renderer,
    builder: Option<&MessageBuilder>,
    file: &Path,
    row: Row,
) -> Scanned {
    match row {
        Row::Invalid {
            row, id, errors, ..
        } => Scanned::Refused { row, id, errors },
        Row::Valid {
            recipient,
            warnings,
        } => render_recipient(renderer, builder, file, recipient, warnings),
    }
}

/// Renders one valid recipient (and, with a builder, checks its charset); a rendering or lint
/// failure refuses the row.
fn render_recipient(
    renderer: &Renderer,
    builder: Option<&MessageBuilder>,
    file: &Path,
    recipient: Recipient,
    warnings: Vec<RowIssue>,
) -> Scanned {
    {
        let person = Person {
            id: &recipient.id,
            name: &recipient.name,
            brand: &recipient.brand,
            locale: &recipient.locale,
            leaked: recipient.leaked,
        };
        let rendered = renderer
            .render(&person)
            .map_err(|e| e.0)
            .and_then(|notice| {
                let fallback = builder.is_some_and(|b| b.needs_fallback(&notice));
                if fallback && builder.is_some_and(|b| !b.falls_back()) {
                    return Err(
                        "cannot be written in ISO-2022-JP (a character outside JIS X 0208, \
                            e.g. in the name) and mail.fallback = \"error\""
                            .to_string(),
                    );
                }
                Ok((notice, fallback))
            });
        match rendered {
            Ok((notice, fallback)) => Scanned::Ready {
                recipient,
                notice,
                warnings,
                fallback,
            },
            Err(problem) => {
                let issue = RowIssue {
                    file: file.to_path_buf(),
                    line: recipient.line,
                    id: Some(recipient.id.clone()),
                    problem,
                    value: None,
                };
                drop(warnings);
                Scanned::Refused {
                    row: recipient.row,
                    id: Some(recipient.id),
                    errors: vec![issue],
                }
            }
        }
    }
}

impl Iterator for Scanner<'_> {
    type Item = Result<Scanned>;

    fn next(&mut self) -> Option<Self::Item> {
        let row = self.next_row()?;
        Some(row.map(|row| scan_row(self.renderer, self.builder, &self.file, row)))
    }
}
