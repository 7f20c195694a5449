//! Public identifiers: a short prefix naming the resource, then a ULID (sortable by time).

use std::sync::Mutex;

/// Monotonic within this process, so ids made in the same millisecond still sort in creation
/// order (lists are paginated by id, newest first).
static GENERATOR: Mutex<ulid::Generator> = Mutex::new(ulid::Generator::new());

/// Makes a new identifier such as `asst_01jd...` for the given prefix.
pub fn new_id(prefix: &str) -> String {
    let mut generator = GENERATOR
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    // Overflow needs 2^80 ids in one millisecond; take a fresh random one then.
    let id = generator
        .generate()
        .unwrap_or_else(|overflow| overflow.commit_overflow_random());
    format!("{prefix}_{}", id.to_string().to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_ids_carry_their_prefix_and_are_unique() {
        let a = new_id("asst");
        let b = new_id("asst");
        assert!(a.starts_with("asst_") && a.len() == 5 + 26, "{a}");
        assert_ne!(a, b);
    }

    #[test]
    fn ids_made_in_a_burst_sort_in_creation_order() {
        let ids: Vec<String> = (0..1000).map(|_| new_id("asst")).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
    }
}
