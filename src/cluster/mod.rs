//! Everything that talks to a cluster: connection, discovery, server-side
//! apply, readiness and deletion. `render` never reaches in here.

pub mod connect;
pub mod discovery;
pub mod live;
pub mod normalize;
pub mod password;
pub mod readiness;

use crate::render::context::{LABEL_MANAGED_BY, LABEL_PART_OF, MANAGER};

/// The field manager of every change cafectl makes.
pub const FIELD_MANAGER: &str = MANAGER;
/// The field manager of the one write cafectl makes outside server-side
/// apply: the generated password, which later applies must never touch.
pub const PASSWORD_MANAGER: &str = "cafectl-password";

/// Selects every object of this profile.
pub fn profile_selector(profile: &str) -> String {
    format!("{LABEL_MANAGED_BY}={MANAGER},{LABEL_PART_OF}={profile}")
}
