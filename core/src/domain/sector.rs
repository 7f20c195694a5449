//! Business sectors, each with its own system-prompt template filled with the business details.

use serde::{Deserialize, Serialize};

use super::business_hours::{BusinessHours, HoursSpec};

/// The sectors an assistant can be made for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    /// French.
    Fr,
    /// English.
    En,
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BusinessDetails {
    /// Trading name.
    pub name: String,
    /// Postal address.
    #[schema(required = true)]
    pub address: Option<String>,
    /// Opening hours, as the business writes them.
    #[schema(required = true)]
    pub opening_hours: Option<String>,
    /// Services or products offered.
    #[serde(default)]
    #[schema(required = true)]
    pub services: Vec<String>,
    /// Where to transfer a caller who asks for a person (E.164).
    #[schema(required = true)]
    pub transfer_number: Option<String>,
    /// Structured opening hours, from which availability is computed; null when not given.
    #[serde(default)]
    #[schema(value_type = Option<HoursSpec>, required = true)]
    pub hours: Option<BusinessHours>,
}

/// The system prompt of an assistant of `sector` for `business`, in `language`.
pub fn system_prompt(sector: Sector, language: Language, business: &BusinessDetails) -> String {
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
            .map(|s| system_prompt(*s, Language::Fr, &marcel()))
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
        let p = system_prompt(Sector::Shop, Language::En, &b);
        assert!(p.contains("Address: not given."));
        assert!(p.contains("take a message"));
    }
}
