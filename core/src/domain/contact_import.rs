//! Campaign contacts as they arrive: a JSON array item by item, or a CSV upload streamed in
//! chunks. Each item or row becomes a [`ContactDraft`] (the number normalised to E.164) or a
//! [`RowError`] saying where and why; problems that spoil the whole CSV file (its header) are
//! a [`CsvError`]. No database here: storing the drafts is the caller's business.
//!
//! The CSV reader keeps memory bounded whatever the upload: it holds at most one record of
//! [`MAX_ROW_BYTES`] (a longer one is refused and skipped, never buffered), and every input
//! byte is looked at a constant number of times, so an upload of 100,000 rows costs 100
//! times one of 1,000.

use std::collections::HashSet;
use std::fmt;

use chrono_tz::Tz;
use csv_core::{ReadRecordResult, ReaderBuilder};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::domain::phone::{CountryCode, PhoneNumber};

/// The longest contact name, in characters.
pub const MAX_NAME_CHARS: usize = 200;

/// The most variables one contact may carry (CSV: the non-empty cells of one row).
pub const MAX_VARIABLES: usize = 50;

/// The longest variable name, in characters (after a CSV header is normalised).
pub const MAX_VARIABLE_NAME_CHARS: usize = 64;

/// The longest variable value, in characters.
pub const MAX_VARIABLE_VALUE_CHARS: usize = 1_000;

/// The most columns a CSV header may have.
pub const MAX_COLUMNS: usize = 200;

/// The largest CSV record (header or row), in bytes of field content after unquoting. A
/// longer row is refused with a [`RowError`] and skipped; a longer header is a [`CsvError`].
pub const MAX_ROW_BYTES: usize = 64 * 1024;

/// Header names (compared after [`normalise_header`]) read as the contact's number.
pub const NUMBER_HEADERS: &[&str] = &[
    "number",
    "phone",
    "phone_number",
    "telephone",
    "tel",
    "mobile",
    "numero",
];

/// Header names (compared after [`normalise_header`]) read as the contact's name.
pub const NAME_HEADERS: &[&str] = &["name", "nom", "full_name"];

/// Header names (compared after [`normalise_header`]) read as the contact's time zone.
pub const TIME_ZONE_HEADERS: &[&str] = &["time_zone", "timezone", "tz", "fuseau"];

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// One contact ready to be stored: the number in E.164, the rest checked against the limits.
#[derive(Debug, Clone, PartialEq)]
pub struct ContactDraft {
    /// The number, normalised to E.164.
    pub number: PhoneNumber,
    /// The name, trimmed; `None` when absent or empty.
    pub name: Option<String>,
    /// The contact's own time zone, when given.
    pub time_zone: Option<Tz>,
    /// Values for the assistant's script, by variable name (CSV values are strings).
    pub variables: Map<String, Value>,
}

/// Why one item or row was refused; the others go on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowError {
    /// CSV: the 1-based line of the file where the record starts (the header is line 1, and
    /// a quoted field spanning lines counts each of them). JSON: the 1-based index of the item
    /// in the array.
    pub line: u64,
    /// What is wrong, for a person to fix.
    pub reason: String,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

/// A problem with the CSV file as a whole: nothing in it can be imported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CsvError {
    /// The file has no header row (it is empty or blank).
    #[error("the file is empty: expected a header row naming the columns")]
    Empty,
    /// No header names the phone number.
    #[error(
        "no phone number column: name one of {} (case and accents do not matter)",
        NUMBER_HEADERS.join(", ")
    )]
    NoNumberColumn,
    /// Two headers are the same once normalised.
    #[error("the column `{0}` appears twice in the header")]
    DuplicateHeader(String),
    /// Two headers mean the same field (`phone` and `mobile`, say).
    #[error("both `{first}` and `{second}` would be the {field} column: keep only one")]
    AmbiguousColumns {
        /// `number`, `name` or `time zone`.
        field: &'static str,
        /// The first such header, as written.
        first: String,
        /// The second such header, as written.
        second: String,
    },
    /// The header has more than [`MAX_COLUMNS`] columns.
    #[error("the header has {0} columns; at most {MAX_COLUMNS} are accepted")]
    TooManyColumns(usize),
    /// The header line is longer than [`MAX_ROW_BYTES`].
    #[error("the header line is longer than {MAX_ROW_BYTES} bytes")]
    HeaderTooLong,
    /// The header is not UTF-8.
    #[error("the header is not valid UTF-8: save the file as CSV UTF-8")]
    HeaderNotUtf8,
    /// A header would become a variable, but is not usable as a variable name.
    #[error("the column `{header}` cannot be a variable: {reason}")]
    InvalidVariableName {
        /// The header, as written.
        header: String,
        /// Why its name is refused.
        reason: String,
    },
}

/// Builds a contact from one item of a JSON array: an object with `number` (string, required),
/// `name` (string), `time_zone` (IANA name) and `variables` (an object of string, number or
/// boolean values). `null` counts as absent. `index` is the item's 1-based position, reported
/// as [`RowError::line`].
pub fn contact_from_json(
    index: u64,
    value: &Value,
    default_country: &CountryCode,
) -> Result<ContactDraft, RowError> {
    let error = |reason: String| RowError {
        line: index,
        reason,
    };
    let Value::Object(object) = value else {
        return Err(error("each contact must be a JSON object".into()));
    };
    let mut number = None;
    let mut name = None;
    let mut time_zone = None;
    let mut variables = Map::new();
    for (key, field) in object {
        match (key.as_str(), field) {
            ("name" | "time_zone" | "variables", Value::Null) => {}
            ("number", Value::String(text)) => {
                number = Some(parse_number(text, default_country).map_err(error)?);
            }
            ("number", _) => return Err(error("`number` must be a string".into())),
            ("name", Value::String(text)) => name = parse_name(text).map_err(error)?,
            ("time_zone", Value::String(text)) => {
                time_zone = parse_time_zone(text).map_err(error)?;
            }
            ("variables", Value::Object(values)) => {
                variables = json_variables(values).map_err(error)?;
            }
            ("name" | "time_zone", _) => return Err(error(format!("`{key}` must be a string"))),
            ("variables", _) => return Err(error("`variables` must be an object".into())),
            _ => {
                return Err(error(format!(
                    "unknown field `{key}`: expected number, name, time_zone, variables"
                )));
            }
        }
    }
    let number = number.ok_or_else(|| error("`number` is required".into()))?;
    Ok(ContactDraft {
        number,
        name,
        time_zone,
        variables,
    })
}

fn json_variables(values: &Map<String, Value>) -> Result<Map<String, Value>, String> {
    let mut variables = Map::new();
    for (name, value) in values {
        check_variable_name(name).map_err(|reason| format!("variable `{name}`: {reason}"))?;
        match value {
            Value::Null => continue,
            Value::String(text) => check_variable_value(name, text)?,
            Value::Number(_) | Value::Bool(_) => {}
            Value::Array(_) | Value::Object(_) => {
                return Err(format!(
                    "variable `{name}` must be a string, a number or a boolean"
                ));
            }
        }
        variables.insert(name.clone(), value.clone());
    }
    if variables.len() > MAX_VARIABLES {
        return Err(too_many_variables(variables.len()));
    }
    Ok(variables)
}

fn parse_number(text: &str, default_country: &CountryCode) -> Result<PhoneNumber, String> {
    if text.trim().is_empty() {
        return Err("the number is missing".into());
    }
    PhoneNumber::parse(text, Some(default_country.clone()))
        .map_err(|e| format!("invalid number `{}`: {e}", text.trim()))
}

fn parse_name(text: &str) -> Result<Option<String>, String> {
    let name = text.trim();
    let chars = name.chars().count();
    if chars > MAX_NAME_CHARS {
        return Err(format!(
            "the name has {chars} characters; at most {MAX_NAME_CHARS}"
        ));
    }
    Ok((!name.is_empty()).then(|| name.to_owned()))
}

fn parse_time_zone(text: &str) -> Result<Option<Tz>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse::<Tz>()
        .map(Some)
        .map_err(|_| format!("unknown time zone `{text}`: expected an IANA name like Europe/Paris"))
}

fn check_variable_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the name is empty".into());
    }
    let chars = name.chars().count();
    if chars > MAX_VARIABLE_NAME_CHARS {
        return Err(format!(
            "the name has {chars} characters; at most {MAX_VARIABLE_NAME_CHARS}"
        ));
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err("only letters A-Z, digits and `_` are allowed".into());
    }
    Ok(())
}

fn check_variable_value(name: &str, value: &str) -> Result<(), String> {
    let chars = value.chars().count();
    if chars > MAX_VARIABLE_VALUE_CHARS {
        return Err(format!(
            "variable `{name}` has {chars} characters; at most {MAX_VARIABLE_VALUE_CHARS}"
        ));
    }
    Ok(())
}

fn too_many_variables(count: usize) -> String {
    format!("{count} variables; at most {MAX_VARIABLES}")
}

/// A header as compared with the known names: trimmed, lower-cased, accents stripped, spaces
/// and `-` turned into `_` (`Téléphone portable` → `telephone_portable`).
pub fn normalise_header(header: &str) -> String {
    let mut out = String::with_capacity(header.len());
    for c in header.trim().chars().flat_map(char::to_lowercase) {
        match c {
            ' ' | '-' => out.push('_'),
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => out.push('a'),
            'ç' | 'ć' | 'č' => out.push('c'),
            'ď' | 'đ' => out.push('d'),
            'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ė' | 'ę' | 'ě' => out.push('e'),
            'ì' | 'í' | 'î' | 'ï' | 'ī' | 'į' => out.push('i'),
            'ł' | 'ľ' => out.push('l'),
            'ñ' | 'ń' | 'ň' => out.push('n'),
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ő' => out.push('o'),
            'ř' => out.push('r'),
            'ś' | 'š' | 'ş' => out.push('s'),
            'ť' | 'ţ' => out.push('t'),
            'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'ů' | 'ű' => out.push('u'),
            'ý' | 'ÿ' => out.push('y'),
            'ź' | 'ż' | 'ž' => out.push('z'),
            'æ' => out.push_str("ae"),
            'œ' => out.push_str("oe"),
            'ß' => out.push_str("ss"),
            other => out.push(other),
        }
    }
    out
}

/// What a CSV column holds.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Role {
    Number,
    Name,
    TimeZone,
    Variable(String),
    /// An empty header: the column's cells are not read.
    Ignored,
}

/// Maps the header's fields to roles, or says why the file cannot be read.
fn columns_from_header(headers: &[&str]) -> Result<Vec<Role>, CsvError> {
    let mut roles = Vec::with_capacity(headers.len());
    let mut seen = HashSet::new();
    let mut fields: [(&'static str, Option<&str>); 3] =
        [("number", None), ("name", None), ("time zone", None)];
    for header in headers {
        let trimmed = header.trim();
        if trimmed.is_empty() {
            roles.push(Role::Ignored);
            continue;
        }
        let normalised = normalise_header(trimmed);
        if !seen.insert(normalised.clone()) {
            return Err(CsvError::DuplicateHeader(trimmed.to_owned()));
        }
        let (role, field) = if NUMBER_HEADERS.contains(&normalised.as_str()) {
            (Role::Number, Some(0))
        } else if NAME_HEADERS.contains(&normalised.as_str()) {
            (Role::Name, Some(1))
        } else if TIME_ZONE_HEADERS.contains(&normalised.as_str()) {
            (Role::TimeZone, Some(2))
        } else {
            // A header already fit to be a name is kept as written (case included).
            let name = if check_variable_name(trimmed).is_ok() {
                trimmed.to_owned()
            } else {
                normalised
            };
            check_variable_name(&name).map_err(|reason| CsvError::InvalidVariableName {
                header: trimmed.to_owned(),
                reason,
            })?;
            (Role::Variable(name), None)
        };
        if let Some(i) = field {
            let (name, first) = &mut fields[i];
            if let Some(first) = first {
                return Err(CsvError::AmbiguousColumns {
                    field: name,
                    first: (*first).to_owned(),
                    second: trimmed.to_owned(),
                });
            }
            *first = Some(trimmed);
        }
        roles.push(role);
    }
    if fields[0].1.is_none() {
        return Err(CsvError::NoNumberColumn);
    }
    Ok(roles)
}

/// Finds the end of the header line, counting the candidate delimiters outside quotes, before
/// the CSV parser (which needs the delimiter) is built. It resumes where it stopped, so a
/// header fed byte by byte is still scanned once.
#[derive(Debug, Default)]
struct HeaderScan {
    /// How far into the pending bytes the scan went.
    pos: usize,
    /// Bytes of the header line seen so far.
    header_bytes: usize,
    started: bool,
    at_field_start: bool,
    in_quotes: bool,
    just_closed: bool,
    /// Occurrences of `,`, `;` and tab outside quotes.
    counts: [usize; 3],
}

const DELIMITERS: [u8; 3] = [b',', b';', b'\t'];

impl HeaderScan {
    /// Scans `bytes[self.pos..]`; true once the header line has ended.
    fn advance(&mut self, bytes: &[u8]) -> Result<bool, CsvError> {
        while let Some(&b) = bytes.get(self.pos) {
            self.pos += 1;
            if !self.started {
                if b == b'\r' || b == b'\n' {
                    continue;
                }
                self.started = true;
                self.at_field_start = true;
            }
            self.header_bytes += 1;
            if self.header_bytes > MAX_ROW_BYTES {
                return Err(CsvError::HeaderTooLong);
            }
            // As the parser does: a quote opens a quoted field only at the start of a field
            // (or right after closing one: `""` is an escaped quote).
            if self.in_quotes {
                if b == b'"' {
                    self.in_quotes = false;
                    self.just_closed = true;
                }
                continue;
            }
            let (field_start, just_closed) = (self.at_field_start, self.just_closed);
            self.at_field_start = false;
            self.just_closed = false;
            if b == b'"' && (field_start || just_closed) {
                self.in_quotes = true;
            } else if b == b'\r' || b == b'\n' {
                return Ok(true);
            } else if let Some(i) = DELIMITERS.iter().position(|d| *d == b) {
                self.counts[i] += 1;
                self.at_field_start = true;
            }
        }
        Ok(false)
    }

    /// The most frequent candidate; `,` when there is none (a single column).
    fn delimiter(&self) -> u8 {
        let mut best = 0;
        for i in 1..DELIMITERS.len() {
            if self.counts[i] > self.counts[best] {
                best = i;
            }
        }
        DELIMITERS[best]
    }
}

/// Why a record was skipped while it was being read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Overflow {
    TooLong,
    TooManyFields,
}

/// The record being read: its unquoted bytes and field ends, in fixed-size buffers.
struct Record {
    bytes: Vec<u8>,
    len: usize,
    ends: Vec<usize>,
    ends_len: usize,
    /// Fields already dropped from `ends` because the record overflowed.
    dropped_fields: usize,
    overflow: Option<Overflow>,
}

impl fmt::Debug for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Record")
            .field("len", &self.len)
            .field("fields", &self.field_count())
            .field("overflow", &self.overflow)
            .finish_non_exhaustive()
    }
}

impl Record {
    fn new(max_fields: usize) -> Self {
        Self {
            // One byte more than the limit, so a record of exactly the limit fits.
            bytes: vec![0; MAX_ROW_BYTES + 1],
            len: 0,
            ends: vec![0; max_fields + 1],
            ends_len: 0,
            dropped_fields: 0,
            overflow: None,
        }
    }

    /// Stops keeping this record's content, but goes on counting its fields.
    fn overflow(&mut self, why: Overflow) {
        self.overflow.get_or_insert(why);
        self.dropped_fields += self.ends_len;
        self.len = 0;
        self.ends_len = 0;
    }

    fn field_count(&self) -> usize {
        self.dropped_fields + self.ends_len
    }

    fn fields(&self) -> impl Iterator<Item = &[u8]> {
        let mut start = 0;
        self.ends[..self.ends_len].iter().map(move |&end| {
            let field = self.bytes.get(start..end).unwrap_or_default();
            start = end;
            field
        })
    }

    fn is_blank(&self) -> bool {
        self.overflow.is_none()
            && self.bytes[..self.len]
                .iter()
                .all(|b| b.is_ascii_whitespace())
    }

    fn clear(&mut self) {
        self.len = 0;
        self.ends_len = 0;
        self.dropped_fields = 0;
        self.overflow = None;
    }
}

/// Reads a CSV upload fed in chunks of any size, split anywhere, yielding each row as it
/// completes. The first non-blank record is the header (see [`NUMBER_HEADERS`],
/// [`NAME_HEADERS`], [`TIME_ZONE_HEADERS`]; any other non-empty header is a variable); its
/// delimiter, `,`, `;` or tab, is the one it holds most of. RFC 4180 quoting, CRLF or LF, and
/// an optional UTF-8 BOM. Blank lines and rows of empty cells are skipped silently.
///
/// After a [`CsvError`] the reader is spent: every later call returns the same error.
#[derive(Debug)]
pub struct CsvContactReader {
    default_country: CountryCode,
    /// Bytes held until the delimiter is known: the BOM and the header line.
    pending: Vec<u8>,
    bom_checked: bool,
    scan: HeaderScan,
    parser: Option<csv_core::Reader>,
    /// The header's roles, once it has been read.
    columns: Option<Vec<Role>>,
    record: Record,
    /// `\n` bytes consumed so far: the current line is one more.
    newlines: u64,
    at_record_start: bool,
    record_line: u64,
    failed: Option<CsvError>,
}

/// What a [`CsvContactReader`] call yields: one result per non-blank row, in file order.
pub type CsvRows = Vec<Result<ContactDraft, RowError>>;

impl CsvContactReader {
    /// A reader for a new file; national numbers are read as numbers of `default_country`.
    pub fn new(default_country: CountryCode) -> Self {
        Self {
            default_country,
            pending: Vec::new(),
            bom_checked: false,
            scan: HeaderScan::default(),
            parser: None,
            columns: None,
            record: Record::new(MAX_COLUMNS),
            newlines: 0,
            at_record_start: true,
            record_line: 1,
            failed: None,
        }
    }

    /// Reads the next chunk of the file, returning the rows it completed.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<CsvRows, CsvError> {
        self.run(chunk, false)
    }

    /// Ends the file, returning its last row if it had no line break; [`CsvError::Empty`] if
    /// there was no header.
    pub fn finish(mut self) -> Result<CsvRows, CsvError> {
        let rows = self.run(&[], true)?;
        if self.columns.is_none() {
            return Err(CsvError::Empty);
        }
        Ok(rows)
    }

    fn run(&mut self, chunk: &[u8], eof: bool) -> Result<CsvRows, CsvError> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        let mut rows = Vec::new();
        let outcome = if self.parser.is_some() {
            self.parse(chunk, eof, &mut rows)
        } else {
            self.pending.extend_from_slice(chunk);
            match self.detect_delimiter(eof) {
                Ok(Some(delimiter)) => {
                    self.parser = Some(ReaderBuilder::new().delimiter(delimiter).build());
                    let pending = std::mem::take(&mut self.pending);
                    self.parse(&pending, eof, &mut rows)
                }
                Ok(None) => Ok(()),
                Err(error) => Err(error),
            }
        };
        match outcome {
            Ok(()) => Ok(rows),
            Err(error) => {
                self.failed = Some(error.clone());
                Err(error)
            }
        }
    }

    /// Strips a BOM and looks for the end of the header line in the pending bytes; the
    /// delimiter once it is known.
    fn detect_delimiter(&mut self, eof: bool) -> Result<Option<u8>, CsvError> {
        if !self.bom_checked {
            if !eof && self.pending.len() < UTF8_BOM.len() && UTF8_BOM.starts_with(&self.pending) {
                return Ok(None);
            }
            if self.pending.starts_with(UTF8_BOM) {
                self.pending.drain(..UTF8_BOM.len());
            }
            self.bom_checked = true;
        }
        let ended = self.scan.advance(&self.pending)?;
        if !self.scan.started {
            // Only line breaks so far: count them rather than hold them.
            self.newlines += count_newlines(&self.pending);
            self.pending.clear();
            self.scan.pos = 0;
        }
        Ok((ended || (eof && self.scan.started)).then(|| self.scan.delimiter()))
    }

    /// Runs the CSV parser over `input`, pushing each completed row to `rows`.
    fn parse(&mut self, mut input: &[u8], eof: bool, rows: &mut CsvRows) -> Result<(), CsvError> {
        let Some(parser) = self.parser.as_mut() else {
            return Ok(());
        };
        loop {
            if self.at_record_start {
                // Blank lines are skipped here rather than by the parser, so the line a
                // record starts on is known exactly.
                let skip = input
                    .iter()
                    .position(|b| *b != b'\r' && *b != b'\n')
                    .unwrap_or(input.len());
                self.newlines += count_newlines(&input[..skip]);
                input = &input[skip..];
                if input.is_empty() {
                    return Ok(());
                }
                self.at_record_start = false;
                self.record_line = self.newlines + 1;
            }
            if input.is_empty() && !eof {
                // An empty input tells the parser the file has ended: only `finish` may.
                return Ok(());
            }
            let record = &mut self.record;
            let final_call = input.is_empty();
            let (result, read, written, ended) = parser.read_record(
                input,
                &mut record.bytes[record.len..],
                &mut record.ends[record.ends_len..],
            );
            self.newlines += count_newlines(&input[..read]);
            input = &input[read..];
            record.len += written;
            record.ends_len += ended;
            match result {
                ReadRecordResult::End => return Ok(()),
                // At the end of the file, call again with no input to get the last record.
                ReadRecordResult::InputEmpty if eof && !final_call => {}
                ReadRecordResult::InputEmpty => return Ok(()),
                ReadRecordResult::OutputFull => record.overflow(Overflow::TooLong),
                ReadRecordResult::OutputEndsFull => record.overflow(Overflow::TooManyFields),
                ReadRecordResult::Record => {
                    let line = self.record_line;
                    match &self.columns {
                        None => {
                            let columns = header_roles(record)?;
                            // Rows may have one field more than the header: enough to tell
                            // "too many" while keeping the count exact (see `overflow`).
                            record.ends = vec![0; columns.len() + 1];
                            record.clear();
                            self.columns = Some(columns);
                        }
                        Some(columns) => {
                            if !record.is_blank() {
                                rows.push(
                                    contact_from_record(record, columns, &self.default_country)
                                        .map_err(|reason| RowError { line, reason }),
                                );
                            }
                            record.clear();
                        }
                    }
                    self.at_record_start = true;
                }
            }
        }
    }
}

fn count_newlines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|b| **b == b'\n').count() as u64
}

fn header_roles(record: &Record) -> Result<Vec<Role>, CsvError> {
    match record.overflow {
        Some(Overflow::TooLong) => return Err(CsvError::HeaderTooLong),
        Some(Overflow::TooManyFields) => {
            return Err(CsvError::TooManyColumns(record.field_count()));
        }
        None if record.field_count() > MAX_COLUMNS => {
            return Err(CsvError::TooManyColumns(record.field_count()));
        }
        None => {}
    }
    let headers = record
        .fields()
        .map(std::str::from_utf8)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| CsvError::HeaderNotUtf8)?;
    columns_from_header(&headers)
}

fn contact_from_record(
    record: &Record,
    columns: &[Role],
    default_country: &CountryCode,
) -> Result<ContactDraft, String> {
    if record.overflow == Some(Overflow::TooLong) {
        return Err(format!(
            "the row is longer than {MAX_ROW_BYTES} bytes; it was skipped"
        ));
    }
    if record.field_count() != columns.len() {
        return Err(format!(
            "expected {} fields as in the header, found {}",
            columns.len(),
            record.field_count()
        ));
    }
    let mut number = Err("the number is missing".to_owned());
    let mut name = None;
    let mut time_zone = None;
    let mut variables = Map::new();
    for (index, (role, bytes)) in columns.iter().zip(record.fields()).enumerate() {
        if *role == Role::Ignored {
            continue;
        }
        let text = std::str::from_utf8(bytes)
            .map_err(|_| format!("field {} is not valid UTF-8", index + 1))?;
        match role {
            Role::Number => number = parse_number(text, default_country),
            Role::Name => name = parse_name(text)?,
            Role::TimeZone => time_zone = parse_time_zone(text)?,
            Role::Variable(variable) => {
                let value = text.trim();
                if !value.is_empty() {
                    check_variable_value(variable, value)?;
                    variables.insert(variable.clone(), Value::String(value.to_owned()));
                }
            }
            Role::Ignored => {}
        }
    }
    if variables.len() > MAX_VARIABLES {
        return Err(too_many_variables(variables.len()));
    }
    Ok(ContactDraft {
        number: number?,
        name,
        time_zone,
        variables,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn fr() -> CountryCode {
        CountryCode::parse("FR").unwrap()
    }

    fn read_whole(csv: &[u8]) -> Result<CsvRows, CsvError> {
        let mut reader = CsvContactReader::new(fr());
        let mut rows = reader.feed(csv)?;
        rows.extend(reader.finish()?);
        Ok(rows)
    }

    fn read_in_chunks(csv: &[u8], sizes: &[usize]) -> Result<CsvRows, CsvError> {
        let mut reader = CsvContactReader::new(fr());
        let mut rows = Vec::new();
        let mut rest = csv;
        let mut sizes = sizes.iter().cycle();
        while !rest.is_empty() {
            let size = sizes.next().copied().unwrap_or(1).clamp(1, rest.len());
            let (chunk, tail) = rest.split_at(size);
            rows.extend(reader.feed(chunk)?);
            rest = tail;
        }
        rows.extend(reader.finish()?);
        Ok(rows)
    }

    fn contacts(csv: &str) -> Vec<ContactDraft> {
        read_whole(csv.as_bytes())
            .unwrap()
            .into_iter()
            .map(|row| row.unwrap())
            .collect()
    }

    fn errors(csv: &str) -> Vec<RowError> {
        read_whole(csv.as_bytes())
            .unwrap()
            .into_iter()
            .filter_map(Result::err)
            .collect()
    }

    fn csv_error(csv: &str) -> CsvError {
        read_whole(csv.as_bytes()).unwrap_err()
    }

    // JSON items.

    #[test]
    fn a_json_contact_is_read_with_every_field() {
        let item = json!({
            "number": "06 12 34 56 78",
            "name": "  Jeanne Dupont ",
            "time_zone": "Europe/Paris",
            "variables": {"plan": "gold", "visits": 3, "vip": true},
        });
        let contact = contact_from_json(1, &item, &fr()).unwrap();
        assert_eq!(contact.number.as_str(), "+33612345678");
        assert_eq!(contact.name.as_deref(), Some("Jeanne Dupont"));
        assert_eq!(contact.time_zone, Some(chrono_tz::Europe::Paris));
        assert_eq!(
            Value::Object(contact.variables),
            json!({"plan": "gold", "visits": 3, "vip": true})
        );
    }

    #[test]
    fn a_json_contact_needs_only_a_number_and_null_counts_as_absent() {
        let item = json!({"number": "+1 415 555 2671", "name": null, "time_zone": null});
        let contact = contact_from_json(1, &item, &fr()).unwrap();
        assert_eq!(contact.number.as_str(), "+14155552671");
        assert_eq!(contact.name, None);
        assert_eq!(contact.time_zone, None);
        assert!(contact.variables.is_empty());
    }

    #[test]
    fn a_json_error_names_the_item_index_as_its_line() {
        let error = contact_from_json(7, &json!({"name": "x"}), &fr()).unwrap_err();
        assert_eq!(error.line, 7);
        assert!(error.reason.contains("`number` is required"), "{error}");
    }

    #[test]
    fn an_unknown_json_key_is_an_error_naming_it() {
        let item = json!({"number": "0612345678", "phone_type": "mobile"});
        let error = contact_from_json(2, &item, &fr()).unwrap_err();
        assert!(error.reason.contains("`phone_type`"), "{error}");
    }

    #[test]
    fn json_fields_of_the_wrong_type_are_refused() {
        for item in [
            json!("0612345678"),
            json!({"number": 612345678}),
            json!({"number": "0612345678", "name": 3}),
            json!({"number": "0612345678", "time_zone": true}),
            json!({"number": "0612345678", "variables": ["a"]}),
            json!({"number": "0612345678", "variables": {"a": [1]}}),
            json!({"number": "0612345678", "variables": {"a": {"b": 1}}}),
        ] {
            assert!(contact_from_json(1, &item, &fr()).is_err(), "{item}");
        }
    }

    #[test]
    fn an_invalid_json_number_gives_the_phone_error_and_the_text() {
        let error = contact_from_json(1, &json!({"number": "06 12"}), &fr()).unwrap_err();
        assert!(error.reason.contains("`06 12`"), "{error}");
        assert!(error.reason.contains("not a valid phone number"), "{error}");
        let error = contact_from_json(1, &json!({"number": "hello"}), &fr()).unwrap_err();
        assert!(error.reason.contains("not a phone number"), "{error}");
    }

    #[test]
    fn json_limits_on_names_and_variables_are_enforced() {
        let long_name = "n".repeat(MAX_NAME_CHARS + 1);
        let ok_name = "é".repeat(MAX_NAME_CHARS);
        assert!(
            contact_from_json(1, &json!({"number": "0612345678", "name": ok_name}), &fr()).is_ok()
        );
        assert!(
            contact_from_json(
                1,
                &json!({"number": "0612345678", "name": long_name}),
                &fr()
            )
            .is_err()
        );

        let too_many: Map<String, Value> = (0..=MAX_VARIABLES)
            .map(|i| (format!("v{i}"), json!(i)))
            .collect();
        let error = contact_from_json(
            1,
            &json!({"number": "0612345678", "variables": too_many}),
            &fr(),
        )
        .unwrap_err();
        assert!(error.reason.contains("at most 50"), "{error}");

        let long_value = "x".repeat(MAX_VARIABLE_VALUE_CHARS + 1);
        assert!(
            contact_from_json(
                1,
                &json!({"number": "0612345678", "variables": {"a": long_value}}),
                &fr()
            )
            .is_err()
        );
        let long_key = "k".repeat(MAX_VARIABLE_NAME_CHARS + 1);
        let mut variables = Map::new();
        variables.insert(long_key, json!("v"));
        assert!(
            contact_from_json(
                1,
                &json!({"number": "0612345678", "variables": variables}),
                &fr()
            )
            .is_err()
        );
        assert!(
            contact_from_json(
                1,
                &json!({"number": "0612345678", "variables": {"pré nom": "x"}}),
                &fr()
            )
            .is_err()
        );
    }

    #[test]
    fn an_unknown_json_time_zone_is_refused() {
        let item = json!({"number": "0612345678", "time_zone": "Europe/Lutece"});
        let error = contact_from_json(1, &item, &fr()).unwrap_err();
        assert!(error.reason.contains("Europe/Lutece"), "{error}");
    }

    #[test]
    fn row_errors_serialise_with_line_and_reason() {
        let error = RowError {
            line: 3,
            reason: "bad".into(),
        };
        assert_eq!(
            serde_json::to_value(&error).unwrap(),
            json!({"line": 3, "reason": "bad"})
        );
    }

    // CSV: the header.

    #[test]
    fn known_headers_are_matched_ignoring_case_and_accents() {
        let rows = contacts("Téléphone,NOM,Fuseau,Ville\n0612345678,Jeanne,Europe/Paris,Lyon\n");
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].number.as_str(), "+33612345678");
        assert_eq!(rows[0].name.as_deref(), Some("Jeanne"));
        assert_eq!(rows[0].time_zone, Some(chrono_tz::Europe::Paris));
        assert_eq!(
            Value::Object(rows[0].variables.clone()),
            json!({"Ville": "Lyon"})
        );
        for header in [
            "number",
            "Phone",
            "phone number",
            "Phone-Number",
            "telephone",
            "TEL",
            "mobile",
            "numero",
            "Numéro",
        ] {
            let rows = contacts(&format!("{header}\n0612345678\n"));
            assert_eq!(rows[0].number.as_str(), "+33612345678", "{header}");
        }
        for header in ["name", "Nom", "full name"] {
            let rows = contacts(&format!("number,{header}\n0612345678,A\n"));
            assert_eq!(rows[0].name.as_deref(), Some("A"), "{header}");
        }
        for header in ["time_zone", "TimeZone", "tz", "time zone"] {
            let rows = contacts(&format!("number,{header}\n0612345678,America/New_York\n"));
            assert_eq!(
                rows[0].time_zone,
                Some(chrono_tz::America::New_York),
                "{header}"
            );
        }
    }

    #[test]
    fn other_headers_become_variables_normalised_when_they_must_be() {
        let rows =
            contacts("number,Prénom du client,date-rdv,Plan_2\n0612345678,Élise,lundi,gold\n");
        assert_eq!(
            Value::Object(rows[0].variables.clone()),
            json!({"prenom_du_client": "Élise", "date_rdv": "lundi", "Plan_2": "gold"})
        );
    }

    #[test]
    fn a_header_unfit_for_a_variable_name_spoils_the_file() {
        assert!(matches!(
            csv_error("number,prix (€)\n0612345678,3\n"),
            CsvError::InvalidVariableName { header, .. } if header == "prix (€)"
        ));
        let long = "v".repeat(MAX_VARIABLE_NAME_CHARS + 1);
        assert!(matches!(
            csv_error(&format!("number,{long}\n")),
            CsvError::InvalidVariableName { .. }
        ));
        let just_right = "v".repeat(MAX_VARIABLE_NAME_CHARS);
        assert!(read_whole(format!("number,{just_right}\n").as_bytes()).is_ok());
    }

    #[test]
    fn a_file_without_a_number_column_lists_the_accepted_names() {
        let error = csv_error("name,city\nA,B\n");
        assert_eq!(error, CsvError::NoNumberColumn);
        let message = error.to_string();
        for name in NUMBER_HEADERS {
            assert!(message.contains(name), "{message}");
        }
    }

    #[test]
    fn duplicate_headers_spoil_the_file() {
        assert_eq!(
            csv_error("number,city,City\n"),
            CsvError::DuplicateHeader("City".into())
        );
        assert!(matches!(
            csv_error("phone,mobile\n"),
            CsvError::AmbiguousColumns {
                field: "number",
                ..
            }
        ));
    }

    #[test]
    fn a_header_over_the_column_limit_spoils_the_file() {
        let header = |n: usize| {
            let mut h = String::from("number");
            for i in 1..n {
                h.push_str(&format!(",v{i}"));
            }
            h + "\n"
        };
        assert!(read_whole(header(MAX_COLUMNS).as_bytes()).is_ok());
        assert_eq!(
            csv_error(&header(MAX_COLUMNS + 1)),
            CsvError::TooManyColumns(MAX_COLUMNS + 1)
        );
        assert_eq!(
            csv_error(&header(MAX_COLUMNS * 3)),
            CsvError::TooManyColumns(MAX_COLUMNS * 3)
        );
    }

    #[test]
    fn a_header_not_in_utf8_spoils_the_file() {
        assert_eq!(
            read_whole(b"number,t\xE9l\xE9phone\n").unwrap_err(),
            CsvError::HeaderNotUtf8
        );
    }

    #[test]
    fn an_endless_header_spoils_the_file_without_being_buffered() {
        let mut reader = CsvContactReader::new(fr());
        reader.feed(b"number,").unwrap();
        let chunk = vec![b'x'; 1024];
        let mut outcome = Ok(Vec::new());
        for _ in 0..(MAX_ROW_BYTES / 1024 + 2) {
            outcome = reader.feed(&chunk);
            if outcome.is_err() {
                break;
            }
        }
        assert_eq!(outcome.unwrap_err(), CsvError::HeaderTooLong);
        assert_eq!(
            reader.feed(b"\n").unwrap_err(),
            CsvError::HeaderTooLong,
            "the reader stays spent"
        );
    }

    #[test]
    fn an_empty_or_blank_file_has_no_header() {
        assert_eq!(read_whole(b"").unwrap_err(), CsvError::Empty);
        assert_eq!(read_whole(b"\r\n\n").unwrap_err(), CsvError::Empty);
        assert_eq!(read_whole(UTF8_BOM).unwrap_err(), CsvError::Empty);
    }

    #[test]
    fn line_breaks_before_the_header_are_counted_not_held() {
        let mut reader = CsvContactReader::new(fr());
        for _ in 0..1000 {
            assert!(reader.feed(b"\r\n\n").unwrap().is_empty());
        }
        assert!(reader.pending.is_empty());
        let mut rows = reader.feed(b"number\nnope\n").unwrap();
        rows.extend(reader.finish().unwrap());
        assert_eq!(rows[0].as_ref().unwrap_err().line, 2002);
    }

    #[test]
    fn a_file_with_only_a_header_has_no_rows() {
        assert!(read_whole(b"number,name").unwrap().is_empty());
    }

    // CSV: delimiters, quoting, line ends.

    #[test]
    fn semicolons_and_tabs_are_detected_from_the_header() {
        let rows = contacts("numéro;nom;ville\n06 12 34 56 78;Dupont, Jeanne;Paris\n");
        assert_eq!(rows[0].name.as_deref(), Some("Dupont, Jeanne"));
        let rows = contacts("number\tname\n0612345678\tA;B\n");
        assert_eq!(rows[0].name.as_deref(), Some("A;B"));
        assert!(
            matches!(
                csv_error("\"x;y;z\",number,name\n"),
                CsvError::InvalidVariableName { header, .. } if header == "x;y;z"
            ),
            "delimiters in quotes do not count"
        );
    }

    #[test]
    fn quoted_fields_keep_delimiters_quotes_and_line_breaks() {
        let rows =
            contacts("number,name,note\r\n0612345678,\"Dupont, \"\"Jo\"\"\",\"one\r\ntwo\"\r\n");
        assert_eq!(rows[0].name.as_deref(), Some("Dupont, \"Jo\""));
        assert_eq!(rows[0].variables["note"], json!("one\r\ntwo"));
    }

    #[test]
    fn a_bom_is_skipped_even_when_split_across_chunks() {
        let csv = b"\xEF\xBB\xBFnumber\n0612345678\n";
        for size in 1..=4 {
            let rows = read_in_chunks(csv, &[size]).unwrap();
            assert_eq!(rows.len(), 1);
            assert!(rows[0].is_ok(), "chunks of {size}: {:?}", rows[0]);
        }
    }

    #[test]
    fn the_last_row_may_lack_a_line_break() {
        let rows = contacts("number\n0612345678\n0756123456");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].number.as_str(), "+33756123456");
    }

    #[test]
    fn blank_lines_and_rows_of_empty_cells_are_skipped_but_counted() {
        let csv = "\n\nnumber;name\r\n\r\n;\r\n   \n0612345678;A\n\nbad;B\n\n";
        let rows = read_whole(csv.as_bytes()).unwrap();
        assert_eq!(rows.len(), 2);
        assert!(rows[0].is_ok());
        assert_eq!(rows[1].as_ref().unwrap_err().line, 9);
    }

    #[test]
    fn row_errors_carry_the_line_where_the_record_starts() {
        let csv = "number,note\n0612345678,\"a\nb\nc\"\nnope,\"x\ny\"\n0612,z\n";
        let errors = errors(csv);
        assert_eq!(
            errors.iter().map(|e| e.line).collect::<Vec<_>>(),
            vec![5, 7]
        );
    }

    // CSV: row errors.

    #[test]
    fn an_invalid_number_gives_the_phone_error_and_the_text() {
        let errors = errors("number\n06 12\nhello\n\"\"\n0612345678\n");
        assert_eq!(errors.len(), 2, "the empty cell is a blank row: {errors:?}");
        assert!(
            errors[0].reason.contains("`06 12`")
                && errors[0].reason.contains("not a valid phone number"),
            "{}",
            errors[0]
        );
        assert!(
            errors[1].reason.contains("`hello`") && errors[1].reason.contains("not a phone number"),
            "{}",
            errors[1]
        );
        let errors = self::errors("number,name\n,Jeanne\n");
        assert!(errors[0].reason.contains("missing"), "{}", errors[0]);
    }

    #[test]
    fn an_unknown_time_zone_is_a_row_error() {
        let errors = errors("number,tz\n0612345678,Mars/Olympus\n0612345678,\n");
        assert_eq!(errors.len(), 1);
        assert!(errors[0].reason.contains("Mars/Olympus"), "{}", errors[0]);
    }

    #[test]
    fn a_row_with_the_wrong_number_of_fields_is_refused() {
        let csv =
            "number,name\n0612345678\n0612345678,A,extra\n0612345678,A,1,2,3,4,5\n0612345678,A\n";
        let errors = errors(csv);
        assert_eq!(errors.len(), 3);
        assert!(
            errors[0].reason.contains("expected 2 fields") && errors[0].reason.contains("found 1")
        );
        assert!(errors[1].reason.contains("found 3"), "{}", errors[1]);
        assert!(errors[2].reason.contains("found 7"), "{}", errors[2]);
        assert_eq!(
            errors.iter().map(|e| e.line).collect::<Vec<_>>(),
            vec![2, 3, 4]
        );
    }

    #[test]
    fn a_row_with_invalid_utf8_is_refused_and_the_next_is_read() {
        let rows = read_whole(b"number,name\n0612345678,Fran\xE7ois\n0756123456,Fran\xC3\xA7ois\n")
            .unwrap();
        assert!(rows[0].as_ref().unwrap_err().reason.contains("UTF-8"));
        assert_eq!(rows[1].as_ref().unwrap().name.as_deref(), Some("François"));
    }

    #[test]
    fn a_row_over_the_byte_limit_is_skipped_without_being_buffered() {
        let mut reader = CsvContactReader::new(fr());
        let mut rows = reader.feed(b"number,note\n0612345678,\"").unwrap();
        let chunk = vec![b'x'; 4096];
        for _ in 0..(4 * MAX_ROW_BYTES / chunk.len()) {
            rows.extend(reader.feed(&chunk).unwrap());
            assert!(reader.record.bytes.len() <= MAX_ROW_BYTES + 1);
        }
        rows.extend(reader.feed(b"\n\"\n0756123456,ok\n").unwrap());
        rows.extend(reader.finish().unwrap());
        assert_eq!(rows.len(), 2);
        let error = rows[0].as_ref().unwrap_err();
        assert_eq!(error.line, 2);
        assert!(error.reason.contains("longer than 65536 bytes"), "{error}");
        assert_eq!(rows[1].as_ref().unwrap().variables["note"], json!("ok"));
    }

    #[test]
    fn a_row_of_exactly_the_byte_limit_is_read() {
        let note = "x".repeat(MAX_ROW_BYTES - "0612345678".len());
        let rows = read_whole(format!("number,note\n0612345678,{note}\n").as_bytes()).unwrap();
        let error = rows[0].as_ref().unwrap_err();
        assert!(
            error.reason.contains("1000"),
            "the value limit applies, not the row limit: {error}"
        );
    }

    #[test]
    fn csv_name_and_value_limits_are_enforced() {
        let name = "n".repeat(MAX_NAME_CHARS + 1);
        let value = "é".repeat(MAX_VARIABLE_VALUE_CHARS + 1);
        let ok_value = "é".repeat(MAX_VARIABLE_VALUE_CHARS);
        let errors = errors(&format!(
            "number,name,note\n0612345678,{name},a\n0612345678,A,{value}\n0612345678,A,{ok_value}\n"
        ));
        assert_eq!(errors.len(), 2);
        assert!(errors[0].reason.contains("name"), "{}", errors[0]);
        assert!(errors[1].reason.contains("note"), "{}", errors[1]);
    }

    #[test]
    fn too_many_filled_variables_is_a_row_error_but_empty_cells_do_not_count() {
        let count = MAX_VARIABLES + 1;
        let header: Vec<String> = (0..count).map(|i| format!("v{i}")).collect();
        let full = vec!["x"; count].join(",");
        let mut sparse = vec![""; count];
        sparse[0] = "x";
        let csv = format!(
            "number,{}\n0612345678,{full}\n0612345678,{}\n",
            header.join(","),
            sparse.join(",")
        );
        let rows = read_whole(csv.as_bytes()).unwrap();
        assert!(rows[0].as_ref().unwrap_err().reason.contains("at most 50"));
        let sparse = rows[1].as_ref().unwrap();
        assert_eq!(Value::Object(sparse.variables.clone()), json!({"v0": "x"}));
    }

    #[test]
    fn empty_headers_are_ignored_columns() {
        let rows = contacts("number,,name\n0612345678,junk,A\n");
        assert_eq!(rows[0].name.as_deref(), Some("A"));
        assert!(rows[0].variables.is_empty());
    }

    #[test]
    fn many_rows_fed_in_chunks_are_all_read() {
        const ROWS: usize = 100_000;
        let mut csv = String::from("number;name;ref\n");
        for i in 0..ROWS {
            csv.push_str(&format!(
                "06 12 {:02} {:02} {:02};Contact {i};r{i}\n",
                i / 10_000,
                (i / 100) % 100,
                i % 100
            ));
        }
        let mut reader = CsvContactReader::new(fr());
        let mut count = 0;
        for chunk in csv.as_bytes().chunks(8 * 1024) {
            for row in reader.feed(chunk).unwrap() {
                row.unwrap();
                count += 1;
            }
        }
        count += reader.finish().unwrap().len();
        assert_eq!(count, ROWS);
    }

    // Properties.

    /// A French number in national format (`0X XX XX XX XX`, dotted, or plain) and its E.164.
    fn arb_french_number() -> impl Strategy<Value = (String, String)> {
        (
            prop::sample::select(vec!['1', '2', '3', '4', '5', '6', '7', '9']),
            prop::collection::vec(0u8..10, 8),
            0..3usize,
        )
            .prop_filter_map("a valid number", |(first, rest, style)| {
                let digits: String = std::iter::once(first)
                    .chain(rest.iter().map(|d| char::from(b'0' + d)))
                    .collect();
                let national = format!("0{digits}");
                let pairs: Vec<&str> = (0..5).map(|i| &national[2 * i..2 * i + 2]).collect();
                let text = match style {
                    0 => pairs.join(" "),
                    1 => pairs.join("."),
                    _ => national.clone(),
                };
                let e164 = format!("+33{digits}");
                let fr = CountryCode::parse("FR").ok()?;
                let parsed = PhoneNumber::parse(&text, Some(fr)).ok()?;
                (parsed.as_str() == e164).then_some((text, e164))
            })
    }

    /// A cell that needs quoting: delimiters, quotes and line breaks.
    fn arb_note() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop::sample::select(vec!["a", "é", ",", ";", "\"", "\n", "\r\n", " ", "ok"]),
            0..8,
        )
        .prop_map(|parts| parts.concat())
    }

    fn quote(cell: &str) -> String {
        format!("\"{}\"", cell.replace('"', "\"\""))
    }

    #[derive(Debug, Clone)]
    struct Row {
        number: (String, String),
        name: String,
        note: String,
        blank_lines_before: usize,
    }

    fn arb_rows() -> impl Strategy<Value = (Vec<Row>, bool, u8)> {
        let row = (
            arb_french_number(),
            "[A-Za-z é]{0,12}",
            arb_note(),
            0..3usize,
        )
            .prop_map(|(number, name, note, blank_lines_before)| Row {
                number,
                name,
                note,
                blank_lines_before,
            });
        (
            prop::collection::vec(row, 0..30),
            any::<bool>(),
            prop::sample::select(vec![b',', b';', b'\t']),
        )
    }

    /// The CSV text of `rows` and, for each, the line it starts on.
    fn render(rows: &[Row], crlf: bool, delimiter: u8) -> (String, Vec<u64>) {
        let eol = if crlf { "\r\n" } else { "\n" };
        let d = char::from(delimiter);
        let mut csv = format!("Téléphone{d}Nom{d}note{eol}");
        let mut line = 2;
        let mut lines = Vec::new();
        for row in rows {
            for _ in 0..row.blank_lines_before {
                csv.push_str(eol);
                line += 1;
            }
            lines.push(line);
            let record = format!(
                "{}{d}{}{d}{}{eol}",
                row.number.0,
                quote(&row.name),
                quote(&row.note)
            );
            line += record.matches('\n').count() as u64;
            csv.push_str(&record);
        }
        (csv, lines)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn numbers_come_out_in_e164_on_the_right_lines((rows, crlf, delimiter) in arb_rows()) {
            let (csv, _) = render(&rows, crlf, delimiter);
            let read = read_whole(csv.as_bytes()).unwrap();
            prop_assert_eq!(read.len(), rows.len());
            for (row, result) in rows.iter().zip(&read) {
                let contact = result.as_ref().unwrap();
                prop_assert_eq!(contact.number.as_str(), row.number.1.as_str());
                let name = row.name.trim();
                prop_assert_eq!(contact.name.as_deref(), (!name.is_empty()).then_some(name));
                let note = row.note.trim();
                prop_assert_eq!(contact.variables.get("note").and_then(Value::as_str), (!note.is_empty()).then_some(note));
            }
            // Make every row fail, to read the lines back from the errors.
            let broken: Vec<Row> = rows.iter().cloned().map(|mut row| {
                row.number.0 = "n/a".into();
                row
            }).collect();
            let (csv, lines) = render(&broken, crlf, delimiter);
            let read = read_whole(csv.as_bytes()).unwrap();
            let read_lines: Vec<u64> = read.iter().map(|r| r.as_ref().unwrap_err().line).collect();
            prop_assert_eq!(read_lines, lines);
        }

        #[test]
        fn any_chunking_gives_the_same_rows_as_feeding_whole(
            (rows, crlf, delimiter) in arb_rows(),
            bom in any::<bool>(),
            sizes in prop::collection::vec(1..64usize, 1..16),
        ) {
            let (csv, _) = render(&rows, crlf, delimiter);
            let mut bytes = if bom { UTF8_BOM.to_vec() } else { Vec::new() };
            bytes.extend_from_slice(csv.as_bytes());
            prop_assert_eq!(read_in_chunks(&bytes, &sizes), read_whole(&bytes));
        }

        #[test]
        fn arbitrary_bytes_never_panic(
            bytes in prop::collection::vec(any::<u8>(), 0..2048),
            sizes in prop::collection::vec(1..300usize, 1..8),
        ) {
            let _ = read_in_chunks(&bytes, &sizes);
        }

        #[test]
        fn arbitrary_rows_after_a_valid_header_never_panic_and_chunking_agrees(
            body in prop::collection::vec(
                prop::sample::select(vec![b'0', b'6', b'1', b'"', b',', b';', b'\n', b'\r', b' ', b'a', 0xC3, 0xA9, 0xFF]),
                0..2048,
            ),
            sizes in prop::collection::vec(1..300usize, 1..8),
        ) {
            let mut bytes = b"number,name,note\n".to_vec();
            bytes.extend_from_slice(&body);
            prop_assert_eq!(read_in_chunks(&bytes, &sizes), read_whole(&bytes));
        }
    }
}
