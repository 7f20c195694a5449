//! Helpers for the OpenAPI schemas of the types the API shows (derived with `utoipa`): a few
//! fields are strings whose values are fixed, which the derive cannot say by itself.

use utoipa::openapi::schema::{Object, ObjectBuilder, Type};

/// A string that is always `value` (the `object` field of every resource).
pub fn constant(value: &'static str) -> Object {
    one_of([value])
}

/// A string that is one of `values`.
pub fn one_of(values: impl IntoIterator<Item = &'static str>) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values))
        .build()
}
