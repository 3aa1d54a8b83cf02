//! Small pieces every stage uses: durable and private files ([`fs`]) and sorting on disk in
//! bounded memory ([`disk_sort`]).

pub(crate) mod disk_sort;
pub(crate) mod fs;
