//! The rendered YAML of every shipped profile, reviewed and committed under
//! tests/snapshots/. A change to a template shows up here as a diff.

mod common;

use common::{render_yaml, VARIANTS};

#[test]
fn standalone() {
    insta::assert_snapshot!("standalone", render_yaml("standalone", &[]));
}

#[test]
fn sentinel() {
    insta::assert_snapshot!("sentinel", render_yaml("sentinel", &[]));
}

#[test]
fn cluster() {
    insta::assert_snapshot!("cluster", render_yaml("cluster", &[]));
}

#[test]
fn standalone_without_storage_secret_policy_or_budget() {
    let (profile, sets) = VARIANTS[3];
    insta::assert_snapshot!("standalone-minimal", render_yaml(profile, sets));
}

#[test]
fn cluster_with_user_password_and_storage_class() {
    let (profile, sets) = VARIANTS[4];
    insta::assert_snapshot!("cluster-4x2", render_yaml(profile, sets));
}
