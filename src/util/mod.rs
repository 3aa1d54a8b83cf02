//! Small pieces every stage uses: durable and private files ([`fs`]), sorting on disk in
//! bounded memory ([`disk_sort`]), and numbers and durations for people ([`format`]).

pub(crate) mod disk_sort;
pub(crate) mod format;
pub(crate) mod fs;
