//! Generates the client from the committed spec, openapi/openapi.json, into
//! OUT_DIR/tollgate.rs (included by src/lib.rs), again on every change of
//! the spec. progenitor handles every operation, the form body of POST
//! /token included; it ignores the security scheme (the binary sets the
//! bearer header itself).

use std::{env, fs, path::Path};

fn main() {
    let spec_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../openapi/openapi.json");
    println!("cargo:rerun-if-changed={}", spec_path.display());
    let text = fs::read_to_string(&spec_path).expect("read openapi/openapi.json");
    let spec: openapiv3::OpenAPI = serde_json::from_str(&text).expect("parse the spec");
    let mut generator = progenitor::Generator::default();
    let tokens = generator
        .generate_tokens(&spec)
        .unwrap_or_else(|err| panic!("progenitor could not generate the client: {err}"));
    let file: syn::File = syn::parse2(tokens).expect("progenitor's output parses as Rust");
    let out = Path::new(&env::var("OUT_DIR").unwrap()).join("tollgate.rs");
    fs::write(out, prettyplease::unparse(&file)).expect("write the generated client");
}
