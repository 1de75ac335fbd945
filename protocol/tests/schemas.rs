//! The published JSON Schemas under `deploy/schemas/` are the ones generated
//! from `protocol::output`'s types: a change to the types that is not
//! published fails here. `PODMINE_WRITE_SCHEMAS=1 cargo test -p protocol
//! --test schemas` writes them anew.

use std::path::Path;

#[test]
fn published_schemas_match_the_output_types() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/schemas");
    let write = std::env::var_os("PODMINE_WRITE_SCHEMAS").is_some();
    for (name, schema) in protocol::output::schemas() {
        let path = dir.join(name);
        let generated = serde_json::to_string_pretty(&schema).expect("schema as JSON") + "\n";
        if write {
            std::fs::write(&path, &generated).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        }
        let published = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "{} is missing ({e}): run PODMINE_WRITE_SCHEMAS=1 cargo test -p protocol --test schemas",
                path.display()
            )
        });
        assert_eq!(
            published,
            generated,
            "{} differs from the output types: run PODMINE_WRITE_SCHEMAS=1 cargo test -p protocol --test schemas",
            path.display()
        );
    }
}
