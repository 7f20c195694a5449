//! What an assistant needs to know that depends on its sector: a restaurant's covers, a
//! salon's services and their durations, a craftsman's emergency policy, and so on. The
//! configurator collects them; the sector's system prompt says them to callers.
//!
//! The details name their sector (`"sector": "restaurant"`), so details meant for another
//! sector are refused by name rather than read as a set of unknown fields.

use serde::{Deserialize, Serialize};

use super::assistant::FieldError;
use super::phone::{CountryCode, PhoneNumber};
use super::sector::Sector;

/// The shortest service or appointment, in minutes.
pub const MIN_DURATION_MINUTES: u32 = 5;
/// The longest service or appointment, in minutes (8 hours).
pub const MAX_DURATION_MINUTES: u32 = 480;
/// The most services, trades, topics or kinds of appointment a list may hold.
pub const MAX_ITEMS: usize = 50;
/// The largest price or surcharge, in cents (10,000 euros).
pub const MAX_PRICE_CENTS: u32 = 1_000_000;
/// The most covers a restaurant may have.
pub const MAX_COVERS: u32 = 2_000;

const MAX_NAME: usize = 120;
const MAX_TEXT: usize = 500;

/// What the assistant's sector needs to know, tagged with that sector (`"sector":
/// "hair_beauty_salon"`); the sector's prompt says them to callers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
#[serde(tag = "sector", rename_all = "snake_case")]
pub enum SectorDetails {
    /// A restaurant's details.
    Restaurant(RestaurantDetails),
    /// A hair or beauty salon's details.
    HairBeautySalon(SalonDetails),
    /// A craftsman's details.
    Craftsman(CraftsmanDetails),
    /// A liberal profession's details.
    LiberalProfession(LiberalProfessionDetails),
    /// A shop's details.
    Shop(ShopDetails),
    /// An SME customer service's details.
    SmeCustomerService(CustomerServiceDetails),
}

/// A restaurant's details.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RestaurantDetails {
    /// Seating capacity, in covers: 1 to 2,000.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 2000))]
    #[cfg_attr(feature = "json-schema", schemars(range(min = 1, max = 2000)))]
    pub covers: Option<u32>,
    /// The largest party booked by phone: 1 to the number of covers.
    #[cfg_attr(feature = "openapi", schema(minimum = 1))]
    #[cfg_attr(feature = "json-schema", schemars(range(min = 1, max = 2000)))]
    pub max_party_size: Option<u32>,
    /// Whether group bookings are taken.
    pub groups: Option<bool>,
    /// Whether the restaurant can be privatised.
    pub private_hire: Option<bool>,
}

/// A hair or beauty salon's details.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct SalonDetails {
    /// The services, with their durations and prices: at most 50.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 50))]
    #[cfg_attr(feature = "json-schema", schemars(length(max = 50)))]
    pub services: Vec<TimedService>,
}

/// A service or kind of appointment that takes a known time.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct TimedService {
    /// Its name: 1 to 120 characters.
    #[cfg_attr(feature = "openapi", schema(value_type = String, required = true, min_length = 1, max_length = 120))]
    #[cfg_attr(
        feature = "json-schema",
        schemars(required, length(min = 1, max = 120))
    )]
    pub name: Option<String>,
    /// How long it takes, in minutes: 5 to 480.
    #[cfg_attr(feature = "openapi", schema(value_type = u32, required = true, minimum = 5, maximum = 480))]
    #[cfg_attr(feature = "json-schema", schemars(required, range(min = 5, max = 480)))]
    pub duration_minutes: Option<u32>,
    /// Its price in cents (`3500` for 35 euros): 0 to 1,000,000.
    #[cfg_attr(feature = "openapi", schema(maximum = 1000000))]
    #[cfg_attr(feature = "json-schema", schemars(range(max = 1_000_000)))]
    pub price_cents: Option<u32>,
}

/// A craftsman's details.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct CraftsmanDetails {
    /// The trades practised (`plumbing`, `heating`): at most 50, each 1 to 120 characters.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 50))]
    pub trades: Vec<String>,
    /// Where the craftsman works (towns, postcodes, a radius): up to 500 characters.
    #[cfg_attr(feature = "openapi", schema(max_length = 500))]
    pub service_area: Option<String>,
    /// Whether and when emergencies are taken.
    pub emergencies: Option<EmergencyPolicy>,
}

/// Whether and when a craftsman takes emergencies.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct EmergencyPolicy {
    /// Whether emergencies are taken.
    #[cfg_attr(feature = "openapi", schema(value_type = bool, required = true))]
    #[cfg_attr(feature = "json-schema", schemars(required))]
    pub accepted: Option<bool>,
    /// When emergencies are taken outside opening hours, as the business says it
    /// (`evenings until 22:00 and weekends`): up to 500 characters.
    #[cfg_attr(feature = "openapi", schema(max_length = 500))]
    pub outside_hours: Option<String>,
    /// The emergency surcharge in cents (`5000` for 50 euros): 0 to 1,000,000.
    #[cfg_attr(feature = "openapi", schema(maximum = 1000000))]
    #[cfg_attr(feature = "json-schema", schemars(range(max = 1_000_000)))]
    pub surcharge_cents: Option<u32>,
}

/// A liberal profession's details.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct LiberalProfessionDetails {
    /// The profession (`general practitioner`, `lawyer`): 1 to 120 characters.
    #[cfg_attr(feature = "openapi", schema(value_type = String, required = true, min_length = 1, max_length = 120))]
    #[cfg_attr(feature = "json-schema", schemars(required))]
    pub profession: Option<String>,
    /// Whether new clients or patients are taken.
    pub accepts_new_clients: Option<bool>,
    /// The kinds of appointment, with their durations: at most 50.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 50))]
    #[cfg_attr(feature = "json-schema", schemars(length(max = 50)))]
    pub appointment_kinds: Vec<TimedService>,
}

/// A shop's details.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ShopDetails {
    /// Whether orders can be collected in the shop (click and collect).
    pub click_and_collect: Option<bool>,
    /// Whether the shop delivers.
    pub delivery: Option<bool>,
    /// Where it delivers: up to 500 characters.
    #[cfg_attr(feature = "openapi", schema(max_length = 500))]
    pub delivery_area: Option<String>,
}

/// An SME customer service's details.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct CustomerServiceDetails {
    /// The topics handled (`orders`, `returns`): at most 50, each 1 to 120 characters.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 50))]
    pub topics: Vec<String>,
    /// Who takes the cases the assistant cannot settle.
    pub escalation_contact: Option<EscalationContact>,
}

/// Who takes the cases the assistant cannot settle: a phone number, an email, or both.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct EscalationContact {
    /// A name or team: up to 120 characters.
    #[cfg_attr(feature = "openapi", schema(max_length = 120))]
    pub name: Option<String>,
    /// A phone number, national (read in the assistant's country) or international; stored
    /// in E.164.
    #[cfg_attr(
        feature = "json-schema",
        schemars(
            description = "A phone number, national (read in the assistant's country) or international."
        )
    )]
    pub phone_number: Option<String>,
    /// An email address.
    pub email: Option<String>,
}

/// The OpenAPI schema of [`SectorDetails`], written by hand.
#[cfg(feature = "openapi")]
mod openapi {
    use utoipa::openapi::RefOr;
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};

    use super::*;

    /// One sector's details as a schema: its own object with the `sector` tag among its
    /// properties. (utoipa's derive would join the tag to the details with `allOf`, where the
    /// details' `additionalProperties: false` refuses the tag: no instance could be valid.)
    fn tagged<T: utoipa::ToSchema>(sector: Sector) -> RefOr<Schema> {
        let mut schema = T::schema();
        if let RefOr::T(Schema::Object(object)) = &mut schema {
            object.properties.insert(
                "sector".into(),
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some([sector.as_str()]))
                    .description(Some("The sector these details are for: the assistant's."))
                    .into(),
            );
            object.required.insert(0, "sector".into());
        }
        schema
    }

    impl utoipa::PartialSchema for SectorDetails {
        fn schema() -> RefOr<Schema> {
            OneOfBuilder::new()
                .description(Some(
                    "A sector's specific details, tagged with the sector they are for (`sector`), \
                     which must be the assistant's.",
                ))
                .item(tagged::<RestaurantDetails>(Sector::Restaurant))
                .item(tagged::<SalonDetails>(Sector::HairBeautySalon))
                .item(tagged::<CraftsmanDetails>(Sector::Craftsman))
                .item(tagged::<LiberalProfessionDetails>(
                    Sector::LiberalProfession,
                ))
                .item(tagged::<ShopDetails>(Sector::Shop))
                .item(tagged::<CustomerServiceDetails>(Sector::SmeCustomerService))
                .into()
        }
    }

    impl utoipa::ToSchema for SectorDetails {
        fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
            RestaurantDetails::schemas(schemas);
            SalonDetails::schemas(schemas);
            CraftsmanDetails::schemas(schemas);
            LiberalProfessionDetails::schemas(schemas);
            ShopDetails::schemas(schemas);
            CustomerServiceDetails::schemas(schemas);
        }
    }
}

impl SectorDetails {
    /// The sector these details are for.
    pub fn sector(&self) -> Sector {
        match self {
            SectorDetails::Restaurant(_) => Sector::Restaurant,
            SectorDetails::HairBeautySalon(_) => Sector::HairBeautySalon,
            SectorDetails::Craftsman(_) => Sector::Craftsman,
            SectorDetails::LiberalProfession(_) => Sector::LiberalProfession,
            SectorDetails::Shop(_) => Sector::Shop,
            SectorDetails::SmeCustomerService(_) => Sector::SmeCustomerService,
        }
    }

    /// Checks the details for an assistant of `sector`, whose national numbers are read in
    /// `country`; answers them cleaned (trimmed, numbers in E.164) or every field at fault,
    /// each under `sector_details`.
    pub fn validate(
        &self,
        sector: Sector,
        country: Option<CountryCode>,
    ) -> Result<SectorDetails, Vec<FieldError>> {
        const ROOT: &str = "sector_details";
        if self.sector() != sector {
            return Err(vec![FieldError::new(
                ROOT,
                format!(
                    "these details are for a {}, but the assistant is for a {}: give the details of a {} (sector_details.sector: {})",
                    self.sector().label(),
                    sector.label(),
                    sector.label(),
                    sector.as_str()
                ),
            )]);
        }
        let mut errors = Vec::new();
        let path = |name: &str| format!("{ROOT}.{name}");
        let cleaned = match self {
            SectorDetails::Restaurant(r) => {
                if let Some(c) = r.covers
                    && !(1..=MAX_COVERS).contains(&c)
                {
                    errors.push(FieldError::new(
                        path("covers"),
                        format!("the number of covers must be between 1 and {MAX_COVERS}"),
                    ));
                }
                if let Some(p) = r.max_party_size {
                    let most = r.covers.unwrap_or(MAX_COVERS).clamp(1, MAX_COVERS);
                    if p == 0 || p > most {
                        errors.push(FieldError::new(
                            path("max_party_size"),
                            format!(
                                "the largest party taken by phone must be between 1 and {most} people"
                            ),
                        ));
                    }
                }
                SectorDetails::Restaurant(r.clone())
            }
            SectorDetails::HairBeautySalon(s) => SectorDetails::HairBeautySalon(SalonDetails {
                services: timed_list(&mut errors, &path("services"), &s.services, "service"),
            }),
            SectorDetails::Craftsman(c) => SectorDetails::Craftsman(CraftsmanDetails {
                trades: names(&mut errors, &path("trades"), &c.trades, "trade"),
                service_area: text(
                    &mut errors,
                    &path("service_area"),
                    c.service_area.as_ref(),
                    MAX_TEXT,
                    "the service area",
                ),
                emergencies: c.emergencies.as_ref().map(|e| {
                    if e.accepted.is_none() {
                        errors.push(FieldError::new(
                            path("emergencies.accepted"),
                            "say whether emergencies are taken (true or false)",
                        ));
                    }
                    if let Some(s) = e.surcharge_cents
                        && s > MAX_PRICE_CENTS
                    {
                        errors.push(FieldError::new(
                            path("emergencies.surcharge_cents"),
                            "the surcharge must be at most 1,000,000 cents (10,000 euros)",
                        ));
                    }
                    EmergencyPolicy {
                        accepted: e.accepted,
                        outside_hours: text(
                            &mut errors,
                            &path("emergencies.outside_hours"),
                            e.outside_hours.as_ref(),
                            MAX_TEXT,
                            "the emergency hours",
                        ),
                        surcharge_cents: e.surcharge_cents,
                    }
                }),
            }),
            SectorDetails::LiberalProfession(l) => {
                let profession = text(
                    &mut errors,
                    &path("profession"),
                    l.profession.as_ref(),
                    MAX_NAME,
                    "the profession",
                );
                if profession.is_none() && !errors.iter().any(|e| e.field == path("profession")) {
                    errors.push(FieldError::new(
                        path("profession"),
                        "the profession is required (for example general practitioner or lawyer)",
                    ));
                }
                SectorDetails::LiberalProfession(LiberalProfessionDetails {
                    profession,
                    accepts_new_clients: l.accepts_new_clients,
                    appointment_kinds: timed_list(
                        &mut errors,
                        &path("appointment_kinds"),
                        &l.appointment_kinds,
                        "kind of appointment",
                    ),
                })
            }
            SectorDetails::Shop(s) => SectorDetails::Shop(ShopDetails {
                click_and_collect: s.click_and_collect,
                delivery: s.delivery,
                delivery_area: text(
                    &mut errors,
                    &path("delivery_area"),
                    s.delivery_area.as_ref(),
                    MAX_TEXT,
                    "the delivery area",
                ),
            }),
            SectorDetails::SmeCustomerService(c) => {
                SectorDetails::SmeCustomerService(CustomerServiceDetails {
                    topics: names(&mut errors, &path("topics"), &c.topics, "topic"),
                    escalation_contact: c
                        .escalation_contact
                        .as_ref()
                        .map(|e| escalation(&mut errors, &path("escalation_contact"), e, country)),
                })
            }
        };
        if errors.is_empty() {
            Ok(cleaned)
        } else {
            Err(errors)
        }
    }
}

/// `value` trimmed; `None` when blank; an error naming `field` when too long or holding
/// control characters.
fn text(
    errors: &mut Vec<FieldError>,
    field: &str,
    value: Option<&String>,
    max: usize,
    what: &str,
) -> Option<String> {
    let value = value.map(|s| s.trim()).filter(|s| !s.is_empty())?;
    if value.chars().count() > max {
        errors.push(FieldError::new(
            field,
            format!("{what} must be at most {max} characters"),
        ));
        None
    } else if value.chars().any(|c| c.is_control() && c != '\n') {
        errors.push(FieldError::new(
            field,
            format!("{what} must not contain control characters"),
        ));
        None
    } else {
        Some(value.to_string())
    }
}

/// A list of names (trades, topics): at most [`MAX_ITEMS`], each 1 to 120 characters.
fn names(errors: &mut Vec<FieldError>, field: &str, list: &[String], what: &str) -> Vec<String> {
    if list.len() > MAX_ITEMS {
        errors.push(FieldError::new(
            field,
            format!("give at most {MAX_ITEMS} of them"),
        ));
    }
    let mut out = Vec::new();
    for (i, name) in list.iter().enumerate() {
        let item = format!("{field}[{i}]");
        match text(errors, &item, Some(name), MAX_NAME, &format!("the {what}")) {
            Some(n) => out.push(n),
            None if name.trim().is_empty() => errors.push(FieldError::new(
                item,
                format!("the {what} must not be blank"),
            )),
            None => {}
        }
    }
    out
}

/// A list of services or kinds of appointment, each with its duration.
fn timed_list(
    errors: &mut Vec<FieldError>,
    field: &str,
    list: &[TimedService],
    what: &str,
) -> Vec<TimedService> {
    if list.len() > MAX_ITEMS {
        errors.push(FieldError::new(
            field,
            format!("give at most {MAX_ITEMS} of them"),
        ));
    }
    let mut out = Vec::new();
    for (i, s) in list.iter().enumerate() {
        let item = format!("{field}[{i}]");
        let name = text(
            errors,
            &format!("{item}.name"),
            s.name.as_ref(),
            MAX_NAME,
            &format!("the {what}'s name"),
        );
        if s.name.as_deref().is_none_or(|n| n.trim().is_empty()) {
            errors.push(FieldError::new(
                format!("{item}.name"),
                format!("the {what}'s name is required"),
            ));
        }
        match s.duration_minutes {
            None => errors.push(FieldError::new(
                format!("{item}.duration_minutes"),
                format!("the {what}'s duration is required, in minutes"),
            )),
            Some(d) if !(MIN_DURATION_MINUTES..=MAX_DURATION_MINUTES).contains(&d) => {
                errors.push(FieldError::new(
                    format!("{item}.duration_minutes"),
                    format!(
                        "the duration must be between {MIN_DURATION_MINUTES} and {MAX_DURATION_MINUTES} minutes"
                    ),
                ))
            }
            Some(_) => {}
        }
        if let Some(p) = s.price_cents
            && p > MAX_PRICE_CENTS
        {
            errors.push(FieldError::new(
                format!("{item}.price_cents"),
                "the price must be at most 1,000,000 cents (10,000 euros)",
            ));
        }
        out.push(TimedService {
            name,
            duration_minutes: s.duration_minutes,
            price_cents: s.price_cents,
        });
    }
    out
}

/// The escalation contact checked: a phone number or an email at least.
fn escalation(
    errors: &mut Vec<FieldError>,
    field: &str,
    e: &EscalationContact,
    country: Option<CountryCode>,
) -> EscalationContact {
    let name = text(
        errors,
        &format!("{field}.name"),
        e.name.as_ref(),
        MAX_NAME,
        "the contact's name",
    );
    let phone_number = match e.phone_number.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(t) => match PhoneNumber::parse(t, country) {
            Ok(n) => Some(n.to_string()),
            Err(_) => {
                errors.push(FieldError::new(
                    format!("{field}.phone_number"),
                    "the contact's phone number must be a French or international phone number",
                ));
                None
            }
        },
    };
    let email = match e.email.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(m) if is_email(m) => Some(m.to_string()),
        Some(_) => {
            errors.push(FieldError::new(
                format!("{field}.email"),
                "the contact's email must be an address such as support@example.com",
            ));
            None
        }
    };
    let given = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.trim().is_empty());
    if !given(&e.phone_number) && !given(&e.email) {
        errors.push(FieldError::new(
            field,
            "give the contact's phone number or email, or both",
        ));
    }
    EscalationContact {
        name,
        phone_number,
        email,
    }
}

/// A plausible email address: one `@`, a non-empty local part, a dotted domain, no spaces.
fn is_email(text: &str) -> bool {
    if text.len() > 254 || text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    match text.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn details(value: serde_json::Value) -> SectorDetails {
        serde_json::from_value(value).expect("json")
    }

    fn fr() -> Option<CountryCode> {
        CountryCode::parse("FR").ok()
    }

    fn errors_of(d: &SectorDetails, sector: Sector) -> Vec<FieldError> {
        d.validate(sector, fr()).expect_err("invalid")
    }

    #[test]
    fn each_sector_accepts_its_own_details() {
        let cases = [
            (
                Sector::Restaurant,
                serde_json::json!({"sector": "restaurant", "covers": 40, "max_party_size": 8, "groups": true, "private_hire": false}),
            ),
            (
                Sector::HairBeautySalon,
                serde_json::json!({"sector": "hair_beauty_salon", "services": [{"name": " Coupe femme ", "duration_minutes": 45, "price_cents": 3500}]}),
            ),
            (
                Sector::Craftsman,
                serde_json::json!({"sector": "craftsman", "trades": ["plomberie"], "service_area": "Lyon et 20 km autour",
                    "emergencies": {"accepted": true, "outside_hours": "soirs et week-ends", "surcharge_cents": 5000}}),
            ),
            (
                Sector::LiberalProfession,
                serde_json::json!({"sector": "liberal_profession", "profession": "avocat", "accepts_new_clients": false,
                    "appointment_kinds": [{"name": "première consultation", "duration_minutes": 60}]}),
            ),
            (
                Sector::Shop,
                serde_json::json!({"sector": "shop", "click_and_collect": true, "delivery": true, "delivery_area": "Paris 11e"}),
            ),
            (
                Sector::SmeCustomerService,
                serde_json::json!({"sector": "sme_customer_service", "topics": ["commandes", "retours"],
                    "escalation_contact": {"name": "Service client", "phone_number": "01 42 86 80 00"}}),
            ),
        ];
        for (sector, value) in cases {
            let d = details(value);
            let clean = d.validate(sector, fr()).expect("valid");
            assert_eq!(clean.sector(), sector);
        }
        let salon = details(
            serde_json::json!({"sector": "hair_beauty_salon", "services": [{"name": " Coupe femme ", "duration_minutes": 45}]}),
        );
        let SectorDetails::HairBeautySalon(s) = salon
            .validate(Sector::HairBeautySalon, fr())
            .expect("valid")
        else {
            panic!("not a salon");
        };
        assert_eq!(s.services[0].name.as_deref(), Some("Coupe femme"));
        let support = details(
            serde_json::json!({"sector": "sme_customer_service", "escalation_contact": {"phone_number": "01 42 86 80 00"}}),
        );
        let SectorDetails::SmeCustomerService(c) = support
            .validate(Sector::SmeCustomerService, fr())
            .expect("valid")
        else {
            panic!("not a customer service");
        };
        assert_eq!(
            c.escalation_contact.and_then(|e| e.phone_number).as_deref(),
            Some("+33142868000")
        );
    }

    #[test]
    fn details_of_another_sector_are_refused_by_name() {
        let d = details(serde_json::json!({"sector": "restaurant", "covers": 40}));
        let errors = errors_of(&d, Sector::HairBeautySalon);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].field, "sector_details");
        assert!(
            errors[0].message.contains("restaurant")
                && errors[0].message.contains("hair or beauty salon"),
            "{}",
            errors[0].message
        );
    }

    #[test]
    fn a_bad_duration_is_named_by_its_path_in_words_a_person_understands() {
        let d = details(
            serde_json::json!({"sector": "hair_beauty_salon", "services": [
                {"name": "Coupe", "duration_minutes": 30},
                {"name": "Brushing", "duration_minutes": 20},
                {"name": "Couleur", "duration_minutes": 600}
            ]}),
        );
        let errors = errors_of(&d, Sector::HairBeautySalon);
        assert_eq!(
            errors,
            vec![FieldError::new(
                "sector_details.services[2].duration_minutes",
                "the duration must be between 5 and 480 minutes"
            )]
        );
        let missing = details(
            serde_json::json!({"sector": "liberal_profession", "appointment_kinds": [{"name": " "}]}),
        );
        let fields: Vec<_> = errors_of(&missing, Sector::LiberalProfession)
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(
            fields,
            [
                "sector_details.profession",
                "sector_details.appointment_kinds[0].name",
                "sector_details.appointment_kinds[0].duration_minutes"
            ]
        );
    }

    #[test]
    fn each_sector_checks_its_own_bounds() {
        let restaurant = details(
            serde_json::json!({"sector": "restaurant", "covers": 20, "max_party_size": 30}),
        );
        assert_eq!(
            errors_of(&restaurant, Sector::Restaurant)[0].field,
            "sector_details.max_party_size"
        );
        let zero = details(serde_json::json!({"sector": "restaurant", "covers": 0}));
        assert_eq!(
            errors_of(&zero, Sector::Restaurant)[0].field,
            "sector_details.covers"
        );
        let craftsman = details(serde_json::json!({"sector": "craftsman", "trades": [""],
            "emergencies": {"surcharge_cents": 2000000}}));
        let fields: Vec<_> = errors_of(&craftsman, Sector::Craftsman)
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(
            fields,
            [
                "sector_details.trades[0]",
                "sector_details.emergencies.accepted",
                "sector_details.emergencies.surcharge_cents"
            ]
        );
        let shop = details(serde_json::json!({"sector": "shop", "delivery_area": "x".repeat(501)}));
        assert_eq!(
            errors_of(&shop, Sector::Shop)[0].field,
            "sector_details.delivery_area"
        );
        let support = details(serde_json::json!({"sector": "sme_customer_service",
            "escalation_contact": {"phone_number": "12", "email": "nobody"}}));
        let fields: Vec<_> = errors_of(&support, Sector::SmeCustomerService)
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(
            fields,
            [
                "sector_details.escalation_contact.phone_number",
                "sector_details.escalation_contact.email"
            ]
        );
        let nobody = details(
            serde_json::json!({"sector": "sme_customer_service", "escalation_contact": {"name": "Paul"}}),
        );
        assert_eq!(
            errors_of(&nobody, Sector::SmeCustomerService)[0].field,
            "sector_details.escalation_contact"
        );
    }

    #[cfg(feature = "openapi")]
    #[test]
    fn the_documented_schema_puts_the_tag_among_each_sectors_fields() {
        let schema =
            serde_json::to_value(<SectorDetails as utoipa::PartialSchema>::schema()).expect("json");
        let variants = schema["oneOf"].as_array().expect("oneOf");
        assert_eq!(variants.len(), Sector::ALL.len());
        for (variant, sector) in variants.iter().zip(Sector::ALL) {
            assert_eq!(variant["additionalProperties"], false, "{variant}");
            assert_eq!(
                variant["properties"]["sector"]["enum"],
                serde_json::json!([sector.as_str()])
            );
            assert_eq!(variant["required"][0], "sector");
        }
        let mut nested = Vec::new();
        <SectorDetails as utoipa::ToSchema>::schemas(&mut nested);
        let names: Vec<_> = nested.iter().map(|(n, _)| n.as_str()).collect();
        assert!(names.contains(&"TimedService"), "{names:?}");
    }

    #[test]
    fn unknown_fields_and_sectors_are_refused_when_read() {
        let unknown: Result<SectorDetails, _> =
            serde_json::from_value(serde_json::json!({"sector": "shop", "covers": 3}));
        assert!(unknown.is_err());
        let bakery: Result<SectorDetails, _> =
            serde_json::from_value(serde_json::json!({"sector": "bakery"}));
        assert!(bakery.is_err());
    }
}
