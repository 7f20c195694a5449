//! What every HTTP resource shares: pagination of lists.

pub mod pagination;
