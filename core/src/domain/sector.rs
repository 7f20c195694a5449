//! Business sectors, each with its own system-prompt template filled with the business details.

use serde::{Deserialize, Serialize};

use super::business_hours::BusinessHours;
#[cfg(feature = "openapi")]
use super::business_hours::HoursSpec;
use super::sector_details::{SectorDetails, TimedService};

/// The sectors an assistant can be made for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Sector {
    /// Restaurants, cafés, caterers.
    Restaurant,
    /// Hairdressers, beauty and nail salons.
    HairBeautySalon,
    /// Plumbers, electricians and other trades.
    Craftsman,
    /// Doctors, lawyers, accountants and other liberal professions.
    LiberalProfession,
    /// Shops.
    Shop,
    /// Customer service of a small or medium business.
    SmeCustomerService,
}

/// The languages an assistant speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Language {
    /// French.
    Fr,
    /// English.
    En,
}

impl Language {
    /// Every language, in documentation order.
    pub const ALL: [Language; 2] = [Language::Fr, Language::En];

    /// The code used in the API and in storage (`fr`).
    pub fn code(self) -> &'static str {
        match self {
            Language::Fr => "fr",
            Language::En => "en",
        }
    }

    /// Parses a language code (`fr`, `en`).
    pub fn parse_code(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.code() == text)
    }
}

impl Sector {
    /// Every sector, in documentation order.
    pub const ALL: [Sector; 6] = [
        Sector::Restaurant,
        Sector::HairBeautySalon,
        Sector::Craftsman,
        Sector::LiberalProfession,
        Sector::Shop,
        Sector::SmeCustomerService,
    ];

    /// The name used in the API (`hair_beauty_salon`).
    pub fn as_str(self) -> &'static str {
        match self {
            Sector::Restaurant => "restaurant",
            Sector::HairBeautySalon => "hair_beauty_salon",
            Sector::Craftsman => "craftsman",
            Sector::LiberalProfession => "liberal_profession",
            Sector::Shop => "shop",
            Sector::SmeCustomerService => "sme_customer_service",
        }
    }

    /// Parses the API name of a sector.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// The sector's name for a person to read (`hair or beauty salon`).
    pub fn label(self) -> &'static str {
        match self {
            Sector::Restaurant => "restaurant",
            Sector::HairBeautySalon => "hair or beauty salon",
            Sector::Craftsman => "craftsman",
            Sector::LiberalProfession => "liberal profession",
            Sector::Shop => "shop",
            Sector::SmeCustomerService => "SME customer service",
        }
    }

    /// What the assistant is there to do, in the given language.
    pub fn duties(self, language: Language) -> &'static str {
        match (self, language) {
            (Sector::Restaurant, Language::Fr) => {
                "Tu prends les réservations de table (date, heure, nombre de couverts, nom, téléphone), tu renseignes sur la carte, les allergènes et les horaires, et tu notes les commandes à emporter."
            }
            (Sector::Restaurant, Language::En) => {
                "You take table bookings (date, time, party size, name, phone), answer questions about the menu, allergens and opening hours, and take takeaway orders."
            }
            (Sector::HairBeautySalon, Language::Fr) => {
                "Tu prends, déplaces et annules les rendez-vous (prestation, date, heure, nom, téléphone), et tu renseignes sur les prestations et les tarifs."
            }
            (Sector::HairBeautySalon, Language::En) => {
                "You book, move and cancel appointments (service, date, time, name, phone) and answer questions about services and prices."
            }
            (Sector::Craftsman, Language::Fr) => {
                "Tu qualifies les demandes d'intervention (nature du problème, urgence, adresse, disponibilités, téléphone), tu proposes un créneau ou une demande de devis, et tu transfères les urgences."
            }
            (Sector::Craftsman, Language::En) => {
                "You qualify service requests (problem, urgency, address, availability, phone), offer a visit slot or a quote request, and transfer emergencies."
            }
            (Sector::LiberalProfession, Language::Fr) => {
                "Tu gères l'agenda du cabinet (prise, déplacement et annulation de rendez-vous), tu prends les messages, et tu ne donnes jamais d'avis médical, juridique ou financier."
            }
            (Sector::LiberalProfession, Language::En) => {
                "You manage the practice's calendar (booking, moving and cancelling appointments), take messages, and never give medical, legal or financial advice."
            }
            (Sector::Shop, Language::Fr) => {
                "Tu renseignes sur les horaires, la disponibilité des produits et les commandes, et tu prends les demandes de réservation ou de rappel."
            }
            (Sector::Shop, Language::En) => {
                "You answer questions about opening hours, product availability and orders, and take reservation or call-back requests."
            }
            (Sector::SmeCustomerService, Language::Fr) => {
                "Tu réponds aux questions des clients, tu suis les commandes et les réclamations, tu crées une demande de rappel quand tu ne peux pas conclure, et tu transfères les cas sensibles."
            }
            (Sector::SmeCustomerService, Language::En) => {
                "You answer customers' questions, follow up orders and complaints, create a call-back request when you cannot conclude, and transfer sensitive cases."
            }
        }
    }
}

/// The business the assistant speaks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BusinessDetails {
    /// Trading name.
    pub name: String,
    /// Postal address.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub address: Option<String>,
    /// Opening hours, as the business writes them.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub opening_hours: Option<String>,
    /// Services or products offered.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub services: Vec<String>,
    /// Where to transfer a caller who asks for a person (E.164).
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub transfer_number: Option<String>,
    /// Structured opening hours, from which availability is computed; null when not given.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<HoursSpec>, required = true))]
    pub hours: Option<BusinessHours>,
}

/// The system prompt of an assistant of `sector` for `business`, in `language`, saying the
/// sector's specific `details` when there are any.
pub fn system_prompt(
    sector: Sector,
    language: Language,
    business: &BusinessDetails,
    details: Option<&SectorDetails>,
) -> String {
    let mut lines = Vec::new();
    let unknown = match language {
        Language::Fr => "non précisé",
        Language::En => "not given",
    };
    let or_unknown = |v: &Option<String>| {
        v.clone()
            .filter(|s| !s.trim().is_empty())
            .unwrap_or_else(|| unknown.to_string())
    };
    let services = if business.services.is_empty() {
        unknown.to_string()
    } else {
        business.services.join(", ")
    };
    match language {
        Language::Fr => {
            lines.push(format!("Tu es l'assistant téléphonique de « {} ». Tu réponds en français, avec des phrases courtes, chaleureuses et professionnelles, et tu vouvoies toujours.", business.name));
            lines.push(sector.duties(language).to_string());
            lines.push(format!("Adresse : {}.", or_unknown(&business.address)));
            lines.push(format!(
                "Horaires : {}.",
                or_unknown(&business.opening_hours)
            ));
            lines.push(format!("Prestations : {services}."));
            lines.extend(
                details
                    .map(|d| detail_lines(d, language))
                    .unwrap_or_default(),
            );
            match &business.transfer_number {
                Some(n) if !n.trim().is_empty() => lines.push(format!("Si l'appelant demande à parler à quelqu'un, ou en cas d'urgence, transfère l'appel au {n}.")),
                _ => lines.push("Si l'appelant demande à parler à quelqu'un, prends un message avec son nom et son numéro.".to_string()),
            }
            lines.push("N'invente jamais d'information : si tu ne sais pas, dis-le et propose un rappel. Annonce en début d'appel que la conversation peut être enregistrée.".to_string());
        }
        Language::En => {
            lines.push(format!("You are the phone assistant of \"{}\". You answer in English, in short, warm and professional sentences.", business.name));
            lines.push(sector.duties(language).to_string());
            lines.push(format!("Address: {}.", or_unknown(&business.address)));
            lines.push(format!(
                "Opening hours: {}.",
                or_unknown(&business.opening_hours)
            ));
            lines.push(format!("Services: {services}."));
            lines.extend(
                details
                    .map(|d| detail_lines(d, language))
                    .unwrap_or_default(),
            );
            match &business.transfer_number {
                Some(n) if !n.trim().is_empty() => lines.push(format!(
                    "If the caller asks for a person, or in an emergency, transfer the call to {n}."
                )),
                _ => lines.push(
                    "If the caller asks for a person, take a message with their name and number."
                        .to_string(),
                ),
            }
            lines.push("Never make information up: if you do not know, say so and offer a call-back. Say at the start of the call that it may be recorded.".to_string());
        }
    }
    lines.join("\n")
}

/// An amount in cents, as said to a caller (`35,00 €`, `€35.00`).
fn money(cents: u32, language: Language) -> String {
    let (euros, rest) = (cents / 100, cents % 100);
    match language {
        Language::Fr => format!("{euros},{rest:02} €"),
        Language::En => format!("€{euros}.{rest:02}"),
    }
}

/// `yes` or `no` in `language`, for a flag given; nothing for a flag left out.
fn yes_no(flag: Option<bool>, language: Language) -> Option<&'static str> {
    flag.map(|f| match (f, language) {
        (true, Language::Fr) => "oui",
        (false, Language::Fr) => "non",
        (true, Language::En) => "yes",
        (false, Language::En) => "no",
    })
}

/// Services or kinds of appointment with their durations (and prices): `Coupe (45 min, 35,00 €)`.
fn timed(list: &[TimedService], language: Language) -> String {
    list.iter()
        .map(|s| {
            let mut parts = Vec::new();
            if let Some(d) = s.duration_minutes {
                parts.push(format!("{d} min"));
            }
            if let Some(p) = s.price_cents {
                parts.push(money(p, language));
            }
            format!(
                "{} ({})",
                s.name.as_deref().unwrap_or_default(),
                parts.join(", ")
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The lines of the prompt that say a sector's specific details.
fn detail_lines(details: &SectorDetails, language: Language) -> Vec<String> {
    let fr = language == Language::Fr;
    let mut lines = Vec::new();
    match details {
        SectorDetails::Restaurant(r) => {
            if let Some(c) = r.covers {
                lines.push(if fr {
                    format!("Capacité : {c} couverts.")
                } else {
                    format!("Seating capacity: {c} covers.")
                });
            }
            if let Some(p) = r.max_party_size {
                lines.push(if fr {
                    format!("Par téléphone, tu prends les réservations jusqu'à {p} personnes ; au-delà, propose un rappel.")
                } else {
                    format!("By phone, you book parties of up to {p} people; for larger ones, offer a call-back.")
                });
            }
            if let Some(g) = yes_no(r.groups, language) {
                lines.push(if fr {
                    format!("Groupes acceptés : {g}.")
                } else {
                    format!("Groups taken: {g}.")
                });
            }
            if let Some(p) = yes_no(r.private_hire, language) {
                lines.push(if fr {
                    format!("Privatisation possible : {p}.")
                } else {
                    format!("Private hire: {p}.")
                });
            }
        }
        SectorDetails::HairBeautySalon(s) => {
            if !s.services.is_empty() {
                let list = timed(&s.services, language);
                lines.push(if fr {
                    format!("Prestations, durées et tarifs : {list}. Réserve la durée de la prestation demandée.")
                } else {
                    format!("Services, durations and prices: {list}. Book the length of the service asked for.")
                });
            }
        }
        SectorDetails::Craftsman(c) => {
            if !c.trades.is_empty() {
                let t = c.trades.join(", ");
                lines.push(if fr {
                    format!("Métiers : {t}.")
                } else {
                    format!("Trades: {t}.")
                });
            }
            if let Some(a) = &c.service_area {
                lines.push(if fr {
                    format!("Zone d'intervention : {a}.")
                } else {
                    format!("Service area: {a}.")
                });
            }
            if let Some(e) = &c.emergencies {
                let mut line = match (e.accepted, fr) {
                    (Some(false), true) => {
                        "Urgences : non prises en charge ; propose un rendez-vous.".to_string()
                    }
                    (Some(false), false) => {
                        "Emergencies: not taken; offer an appointment.".to_string()
                    }
                    (_, true) => "Urgences : prises en charge.".to_string(),
                    (_, false) => "Emergencies: taken.".to_string(),
                };
                if e.accepted != Some(false) {
                    if let Some(h) = &e.outside_hours {
                        line.push_str(&if fr {
                            format!(" En dehors des horaires : {h}.")
                        } else {
                            format!(" Outside opening hours: {h}.")
                        });
                    }
                    if let Some(s) = e.surcharge_cents {
                        line.push_str(&if fr {
                            format!(" Majoration d'urgence : {}.", money(s, language))
                        } else {
                            format!(" Emergency surcharge: {}.", money(s, language))
                        });
                    }
                }
                lines.push(line);
            }
        }
        SectorDetails::LiberalProfession(l) => {
            if let Some(p) = &l.profession {
                lines.push(if fr {
                    format!("Profession : {p}.")
                } else {
                    format!("Profession: {p}.")
                });
            }
            match (l.accepts_new_clients, fr) {
                (Some(true), true) => lines.push("Nouveaux clients ou patients acceptés.".into()),
                (Some(true), false) => lines.push("New clients or patients are taken.".into()),
                (Some(false), true) => lines.push("Pas de nouveaux clients ou patients : dis-le poliment et propose de prendre un message.".into()),
                (Some(false), false) => lines.push("No new clients or patients: say so politely and offer to take a message.".into()),
                (None, _) => {}
            }
            if !l.appointment_kinds.is_empty() {
                let list = timed(&l.appointment_kinds, language);
                lines.push(if fr {
                    format!("Types de rendez-vous et durées : {list}.")
                } else {
                    format!("Kinds of appointment and durations: {list}.")
                });
            }
        }
        SectorDetails::Shop(s) => {
            if let Some(c) = yes_no(s.click_and_collect, language) {
                lines.push(if fr {
                    format!("Retrait en magasin (click and collect) : {c}.")
                } else {
                    format!("Click and collect: {c}.")
                });
            }
            if let Some(d) = yes_no(s.delivery, language) {
                let area = s
                    .delivery_area
                    .as_ref()
                    .map(|a| format!(" ({a})"))
                    .unwrap_or_default();
                lines.push(if fr {
                    format!("Livraison : {d}{area}.")
                } else {
                    format!("Delivery: {d}{area}.")
                });
            }
        }
        SectorDetails::SmeCustomerService(c) => {
            if !c.topics.is_empty() {
                let t = c.topics.join(", ");
                lines.push(if fr {
                    format!("Sujets traités : {t}.")
                } else {
                    format!("Topics handled: {t}.")
                });
            }
            if let Some(e) = &c.escalation_contact {
                let who = [e.name.clone(), e.phone_number.clone(), e.email.clone()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(", ");
                lines.push(if fr {
                    format!(
                        "Pour un cas que tu ne peux pas régler, l'escalade se fait vers : {who}."
                    )
                } else {
                    format!("Cases you cannot settle are escalated to: {who}.")
                });
            }
        }
    }
    lines
}

/// The first sentence the assistant says when it picks up.
pub fn default_greeting(language: Language, business_name: &str) -> String {
    match language {
        Language::Fr => format!(
            "Bonjour, vous êtes bien chez {business_name}. Je suis l'assistant virtuel, que puis-je faire pour vous ?"
        ),
        Language::En => format!(
            "Hello, you've reached {business_name}. I'm the virtual assistant, how can I help you?"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marcel() -> BusinessDetails {
        BusinessDetails {
            name: "Chez Marcel".into(),
            address: Some("12 rue des Lilas, 75011 Paris".into()),
            opening_hours: Some("mardi-samedi 12h-14h30, 19h-23h".into()),
            services: vec!["déjeuner".into(), "dîner".into()],
            transfer_number: Some("+33142868000".into()),
            hours: None,
        }
    }

    #[test]
    fn every_sector_has_its_own_prompt_filled_with_the_business() {
        let prompts: Vec<String> = Sector::ALL
            .iter()
            .map(|s| system_prompt(*s, Language::Fr, &marcel(), None))
            .collect();
        for p in &prompts {
            assert!(p.contains("Chez Marcel"));
            assert!(p.contains("12 rue des Lilas"));
            assert!(p.contains("+33142868000"));
        }
        let distinct: std::collections::HashSet<_> = prompts.iter().collect();
        assert_eq!(distinct.len(), Sector::ALL.len());
    }

    #[test]
    fn the_sector_details_are_said_to_callers() {
        let salon: SectorDetails = serde_json::from_value(serde_json::json!({
            "sector": "hair_beauty_salon",
            "services": [{"name": "Coupe femme", "duration_minutes": 45, "price_cents": 3500}]
        }))
        .expect("json");
        let p = system_prompt(
            Sector::HairBeautySalon,
            Language::Fr,
            &marcel(),
            Some(&salon),
        );
        assert!(p.contains("Coupe femme (45 min, 35,00 €)"), "{p}");
        let craftsman: SectorDetails = serde_json::from_value(serde_json::json!({
            "sector": "craftsman", "trades": ["plumbing"],
            "emergencies": {"accepted": true, "outside_hours": "evenings and weekends", "surcharge_cents": 5000}
        }))
        .expect("json");
        let p = system_prompt(Sector::Craftsman, Language::En, &marcel(), Some(&craftsman));
        assert!(
            p.contains("Emergencies: taken. Outside opening hours: evenings and weekends. Emergency surcharge: €50.00."),
            "{p}"
        );
        let restaurant: SectorDetails = serde_json::from_value(serde_json::json!({
            "sector": "restaurant", "covers": 40, "max_party_size": 8
        }))
        .expect("json");
        let p = system_prompt(
            Sector::Restaurant,
            Language::Fr,
            &marcel(),
            Some(&restaurant),
        );
        assert!(
            p.contains("40 couverts") && p.contains("jusqu'à 8 personnes"),
            "{p}"
        );
        assert_ne!(
            p,
            system_prompt(Sector::Restaurant, Language::Fr, &marcel(), None)
        );
    }

    #[test]
    fn sector_names_round_trip() {
        for s in Sector::ALL {
            assert_eq!(Sector::parse(s.as_str()), Some(s));
        }
        assert_eq!(Sector::parse("bakery"), None);
    }

    #[test]
    fn missing_details_are_said_to_be_missing_not_left_blank() {
        let b = BusinessDetails {
            name: "X".into(),
            address: None,
            opening_hours: None,
            services: vec![],
            transfer_number: None,
            hours: None,
        };
        let p = system_prompt(Sector::Shop, Language::En, &b, None);
        assert!(p.contains("Address: not given."));
        assert!(p.contains("take a message"));
    }
}
