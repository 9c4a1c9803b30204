//! Placeholder replaced by the benchmark itself.

fn main() {}
