//! The common handler mistakes explain themselves at compile time
//! (`#[diagnostic::on_unimplemented]` on `Handler`, the extractor traits
//! and `IntoResponse`): each program in `tests/ui/` is checked by cargo as
//! a user's crate depending on duet would be, and must fail with duet's
//! message, not only rustc's generic one.

use std::path::PathBuf;
use std::process::Command;

fn check(name: &str) -> String {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("ui-{name}"));
    std::fs::create_dir_all(dir.join("src")).expect("dir");
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"ui-{}\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\n[dependencies]\nduet = {{ package = \"duet-http\", path = {:?} }}\n\n[workspace]\n",
            name.replace('_', "-"),
            root
        ),
    )
    .expect("manifest");
    std::fs::copy(
        root.join(format!("tests/ui/{name}.rs")),
        dir.join("src/main.rs"),
    )
    .expect("copy");
    // The workspace's target dir: duet's dependencies are checked once.
    let target = root.join("../../target/ui");
    let out = Command::new(env!("CARGO"))
        .args(["check", "--quiet", "--offline", "--message-format", "human"])
        .current_dir(&dir)
        .env("CARGO_TARGET_DIR", target)
        .output()
        .expect("cargo runs");
    assert!(!out.status.success(), "{name} compiled");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn handler_mistakes_have_readable_errors() {
    for name in ["not_an_extractor", "body_not_last", "not_a_response"] {
        let err = check(name);
        assert!(err.contains("is not a duet handler"), "{name}: {err}");
        assert!(
            err.contains("any number implementing `FromRequestParts`"),
            "{name}: {err}"
        );
    }
}

#[test]
fn a_bad_extractor_in_a_custom_position_names_the_trait() {
    let err = check("extractor_bound");
    assert!(err.contains("cannot be taken from a request head"), "{err}");
}
