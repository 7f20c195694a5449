//! Pure business rules: no I/O, no database, no HTTP. Values here are built only through
//! parsing constructors, so an invalid one cannot exist past the edge.

pub mod analysis;
pub mod assistant;
pub mod availability;
pub mod billing;
pub mod billing_profile;
pub mod booking_tools;
pub mod business_hours;
pub mod calling_window;
pub mod campaign;
pub mod configurator;
pub mod contact_import;
pub mod email;
pub mod holidays;
pub mod ids;
pub mod invoice;
pub mod phone;
pub mod public_address;
pub mod reminder;
pub mod sales_journal;
pub mod sealed;
pub mod sector;
pub mod sector_details;
pub mod vat;
