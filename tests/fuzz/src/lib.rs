//! The checks behind the fuzz targets (`checks.rs`, shared with the regression test).

pub mod checks;
