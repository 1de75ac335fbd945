//! The worker binary is a placeholder until its issue: it must say so and fail,
//! never look like it mined anything. (This test also makes `cargo test
//! --workspace` build the binary for the integration tests.)

#[test]
fn the_placeholder_worker_says_it_is_not_built_and_fails() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_worker")).output().expect("run worker");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not implemented yet"));
}
