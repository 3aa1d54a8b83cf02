//! Small pieces every stage uses: durable and private files ([`fs`]), sorting on disk in
//! bounded memory ([`disk_sort`]), numbers and durations for people ([`format`]) and the strict
//! ISO-2022-JP codec ([`iso2022jp`]), per-row tables in files ([`table`]), and time as files hold it and people read it ([`time`]).

pub(crate) mod disk_sort;
pub(crate) mod format;
pub(crate) mod fs;
pub(crate) mod iso2022jp;
pub(crate) mod redact;
pub(crate) mod table;
pub(crate) mod time;
