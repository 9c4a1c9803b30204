//! The tollgate client progenitor generates from openapi/openapi.json.
#![allow(clippy::all, unused)]

include!(concat!(env!("OUT_DIR"), "/tollgate.rs"));
