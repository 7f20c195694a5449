//! The operations both doors of the API share: the REST routes and the MCP tools call these,
//! so validation, scopes and tenant rules are written once. Each takes the [`crate::auth::Caller`]
//! (its key's organisation and scope) and answers an [`crate::error::ApiError`] that each door
//! renders its own way.

pub mod appointments;
pub mod assistants;
pub mod configurators;
pub mod sectors;
