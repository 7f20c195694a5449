//! What every HTTP resource shares: pagination of lists, and the numbers and imports of the
//! do-not-call list and the consents.

pub mod number_import;
pub mod pagination;
