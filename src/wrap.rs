//! Japanese line breaking.
