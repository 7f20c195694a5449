//! The configurator: the voice assistant that onboards a business on the phone. It asks the
//! owner the questions of their sector, one at a time, builds an assistant configuration
//! (AssistantConfig) from the answers, checks it and creates the business's assistant through
//! the MCP server's tools. This module holds what it says: its questions per sector, its system
//! prompt and its greeting, in each language.

use super::sector::{Language, Sector};

const NAME_FR: &str = "Zencall – configuration de votre assistant";
const NAME_EN: &str = "Zencall – set up your assistant";

/// One question the configurator asks, and the configuration field the answer fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Question {
    /// The field of AssistantConfig it fills (`business.transfer_number`,
    /// `sector_details.covers`).
    pub field: &'static str,
    /// The question, as the configurator asks it.
    pub ask: &'static str,
}

/// A [`Question`] literal (a struct literal, so the tables below are promoted to statics).
macro_rules! q {
    ($field:literal, $ask:literal) => {
        Question {
            field: $field,
            ask: $ask,
        }
    };
}

/// The questions every sector starts with.
fn common(language: Language) -> &'static [Question] {
    match language {
        Language::Fr => &[
            q!(
                "business.name",
                "Quel est le nom de votre entreprise, tel que vos clients le connaissent ?"
            ),
            q!(
                "business.address",
                "Quelle est l'adresse de l'établissement ?"
            ),
            q!(
                "business.hours",
                "Quels sont vos horaires d'ouverture, jour par jour ? Et vos fermetures exceptionnelles à venir ?"
            ),
            q!(
                "business.services",
                "Quelles prestations ou quels produits proposez-vous ?"
            ),
            q!(
                "business.transfer_number",
                "À quel numéro l'assistant doit-il transférer un appelant qui veut parler à quelqu'un ?"
            ),
            q!(
                "phone_number.area_code",
                "Souhaitez-vous un numéro dans une zone précise (01 pour Paris, 04 pour Lyon…) ?"
            ),
        ],
        Language::En => &[
            q!(
                "business.name",
                "What is your business called, as your customers know it?"
            ),
            q!("business.address", "What is the address of the business?"),
            q!(
                "business.hours",
                "What are your opening hours, day by day? And any upcoming closures?"
            ),
            q!(
                "business.services",
                "Which services or products do you offer?"
            ),
            q!(
                "business.transfer_number",
                "Which number should the assistant transfer a caller to who asks for a person?"
            ),
            q!(
                "phone_number.area_code",
                "Would you like a number in a particular area (01 for Paris, 04 for Lyon...)?"
            ),
        ],
    }
}

/// The questions of a sector's own details.
fn specific(sector: Sector, language: Language) -> &'static [Question] {
    match (sector, language) {
        (Sector::Restaurant, Language::Fr) => &[
            q!(
                "sector_details.covers",
                "Combien de couverts compte la salle ?"
            ),
            q!(
                "sector_details.max_party_size",
                "Jusqu'à combien de personnes une table peut-elle être réservée par téléphone ?"
            ),
            q!("sector_details.groups", "Acceptez-vous les groupes ?"),
            q!(
                "sector_details.private_hire",
                "Peut-on privatiser le restaurant ?"
            ),
        ],
        (Sector::Restaurant, Language::En) => &[
            q!(
                "sector_details.covers",
                "How many covers does the dining room seat?"
            ),
            q!(
                "sector_details.max_party_size",
                "What is the largest party that can book by phone?"
            ),
            q!("sector_details.groups", "Do you take group bookings?"),
            q!(
                "sector_details.private_hire",
                "Can the restaurant be booked for a private event?"
            ),
        ],
        (Sector::HairBeautySalon, Language::Fr) => &[q!(
            "sector_details.services",
            "Pour chaque prestation : combien de temps dure-t-elle, et quel est son prix ?"
        )],
        (Sector::HairBeautySalon, Language::En) => &[q!(
            "sector_details.services",
            "For each service: how long does it take, and what does it cost?"
        )],
        (Sector::Craftsman, Language::Fr) => &[
            q!(
                "sector_details.trades",
                "Quels métiers exercez-vous (plomberie, chauffage, électricité…) ?"
            ),
            q!(
                "sector_details.service_area",
                "Dans quelle zone intervenez-vous (villes, codes postaux, rayon) ?"
            ),
            q!(
                "sector_details.emergencies.accepted",
                "Prenez-vous les urgences ?"
            ),
            q!(
                "sector_details.emergencies.outside_hours",
                "Quand prenez-vous les urgences en dehors des horaires d'ouverture ?"
            ),
            q!(
                "sector_details.emergencies.surcharge_cents",
                "Appliquez-vous une majoration pour une urgence, et de combien ?"
            ),
        ],
        (Sector::Craftsman, Language::En) => &[
            q!(
                "sector_details.trades",
                "Which trades do you practise (plumbing, heating, electrics...)?"
            ),
            q!(
                "sector_details.service_area",
                "Where do you work (towns, postcodes, a radius)?"
            ),
            q!(
                "sector_details.emergencies.accepted",
                "Do you take emergencies?"
            ),
            q!(
                "sector_details.emergencies.outside_hours",
                "When do you take emergencies outside opening hours?"
            ),
            q!(
                "sector_details.emergencies.surcharge_cents",
                "Do you charge extra for an emergency, and how much?"
            ),
        ],
        (Sector::LiberalProfession, Language::Fr) => &[
            q!(
                "sector_details.profession",
                "Quelle est votre profession (médecin généraliste, avocat, expert-comptable…) ?"
            ),
            q!(
                "sector_details.accepts_new_clients",
                "Prenez-vous de nouveaux patients ou clients ?"
            ),
            q!(
                "sector_details.appointment_kinds",
                "Quels types de rendez-vous proposez-vous, et combien de temps dure chacun ?"
            ),
        ],
        (Sector::LiberalProfession, Language::En) => &[
            q!(
                "sector_details.profession",
                "What is your profession (general practitioner, lawyer, accountant...)?"
            ),
            q!(
                "sector_details.accepts_new_clients",
                "Do you take new patients or clients?"
            ),
            q!(
                "sector_details.appointment_kinds",
                "Which kinds of appointment do you offer, and how long does each take?"
            ),
        ],
        (Sector::Shop, Language::Fr) => &[
            q!(
                "sector_details.click_and_collect",
                "Vos clients peuvent-ils commander et retirer en boutique ?"
            ),
            q!("sector_details.delivery", "Livrez-vous ?"),
            q!("sector_details.delivery_area", "Où livrez-vous ?"),
        ],
        (Sector::Shop, Language::En) => &[
            q!(
                "sector_details.click_and_collect",
                "Can customers order and collect in the shop?"
            ),
            q!("sector_details.delivery", "Do you deliver?"),
            q!("sector_details.delivery_area", "Where do you deliver?"),
        ],
        (Sector::SmeCustomerService, Language::Fr) => &[
            q!(
                "sector_details.topics",
                "Sur quels sujets vos clients appellent-ils (commandes, retours, facturation…) ?"
            ),
            q!(
                "sector_details.escalation_contact",
                "Qui prend les cas que l'assistant ne peut pas régler : un nom, un numéro, un e-mail ?"
            ),
        ],
        (Sector::SmeCustomerService, Language::En) => &[
            q!(
                "sector_details.topics",
                "What do your customers call about (orders, returns, billing...)?"
            ),
            q!(
                "sector_details.escalation_contact",
                "Who takes the cases the assistant cannot settle: a name, a number, an email?"
            ),
        ],
    }
}

/// Every question the configurator asks a business of `sector`, in order: the business's
/// identity, hours, services, transfer number and number area, then the sector's own details.
pub fn questions(sector: Sector, language: Language) -> Vec<Question> {
    common(language)
        .iter()
        .chain(specific(sector, language))
        .copied()
        .collect()
}

/// The configurator's display name at the voice platform.
pub fn name(language: Language) -> &'static str {
    match language {
        Language::Fr => NAME_FR,
        Language::En => NAME_EN,
    }
}

/// The configurator's first sentence.
pub fn greeting(language: Language) -> &'static str {
    match language {
        Language::Fr => {
            "Bonjour, je vais configurer avec vous l'assistant téléphonique de votre entreprise : cela prend environ cinq minutes. Pour commencer, quel est votre secteur d'activité : restaurant, salon de coiffure ou de beauté, artisan, profession libérale, commerce, ou service client d'une entreprise ?"
        }
        Language::En => {
            "Hello, I will set up your business's phone assistant with you: it takes about five minutes. To begin, what is your line of business: restaurant, hair or beauty salon, craftsman, liberal profession, shop, or a company's customer service?"
        }
    }
}

/// The name of each sector as the owner would say it, for the prompt.
fn spoken(sector: Sector, language: Language) -> &'static str {
    match (sector, language) {
        (Sector::Restaurant, Language::Fr) => "un restaurant, un café ou un traiteur",
        (Sector::HairBeautySalon, Language::Fr) => "un salon de coiffure, de beauté ou d'ongles",
        (Sector::Craftsman, Language::Fr) => "un artisan (plombier, électricien, chauffagiste…)",
        (Sector::LiberalProfession, Language::Fr) => {
            "une profession libérale (médecin, avocat, expert-comptable…)"
        }
        (Sector::Shop, Language::Fr) => "un commerce",
        (Sector::SmeCustomerService, Language::Fr) => "le service client d'une PME",
        (_, Language::En) => sector.label(),
    }
}

/// The configurator's system prompt in `language`: how to lead the conversation, the
/// questions of each of the six sectors (with the field each answer fills), and when to call
/// which MCP tool.
pub fn system_prompt(language: Language) -> String {
    let mut text = String::new();
    match language {
        Language::Fr => {
            text.push_str(
                "Tu es le configurateur de Zencall. Au téléphone, tu aides le gérant d'une petite entreprise à créer son assistant téléphonique en moins de cinq minutes. Tu parles français, tu vouvoies, tu poses une seule question à la fois, tu reformules brièvement chaque réponse, et tu ne demandes jamais ce que le gérant a déjà dit.\n\n\
                 Déroulé :\n\
                 1. Demande le secteur d'activité, puis appelle l'outil get_sector_template avec ce secteur et la langue, pour savoir ce que fera l'assistant ; résume-le en une phrase.\n\
                 2. Pose les questions du secteur ci-dessous, dans l'ordre. Une réponse floue (« le matin ») se précise par une question courte. Une question sans réponse se passe.\n\
                 3. Appelle validate_assistant_config avec la configuration complète (le schéma est donné par get_assistant_config_schema). S'il répond valid: false, lis chaque erreur, explique-la au gérant avec des mots simples, repose la question du champ nommé, puis valide à nouveau.\n\
                 4. Relis la configuration au gérant et demande son accord. Avec son accord seulement, appelle create_assistant_and_provision_number.\n\
                 5. Appelle get_assistant toutes les quelques secondes jusqu'à ce que le statut soit active, puis annonce le numéro de téléphone obtenu, chiffre par chiffre. Si le statut est failed, donne la raison et propose une autre zone avec provision_phone_number.\n\
                 N'invente jamais une réponse du gérant. Les numéros se notent au format international (+33…), les prix en centimes, les durées en minutes.\n\n\
                 Questions par secteur (le champ rempli est entre crochets) :\n",
            );
        }
        Language::En => {
            text.push_str(
                "You are Zencall's configurator. On the phone, you help the owner of a small business create their phone assistant in under five minutes. You speak English, ask one question at a time, briefly restate each answer, and never ask for what the owner has already said.\n\n\
                 Steps:\n\
                 1. Ask for the line of business, then call the get_sector_template tool with that sector and the language, to learn what the assistant will do; sum it up in one sentence.\n\
                 2. Ask the sector's questions below, in order. Narrow down a vague answer (\"mornings\") with a short question. Skip a question left unanswered.\n\
                 3. Call validate_assistant_config with the whole configuration (get_assistant_config_schema gives its schema). If it answers valid: false, read each error, explain it to the owner in plain words, ask the named field's question again, then validate again.\n\
                 4. Read the configuration back to the owner and ask for their agreement. Only with it, call create_assistant_and_provision_number.\n\
                 5. Call get_assistant every few seconds until its status is active, then say the phone number obtained, digit by digit. If the status is failed, give the reason and offer another area with provision_phone_number.\n\
                 Never make up an answer of the owner's. Write numbers in international form (+33...), prices in cents, durations in minutes.\n\n\
                 Questions per sector (the field filled is in brackets):\n",
            );
        }
    }
    for sector in Sector::ALL {
        text.push_str(&format!(
            "\n## {} (sector: {})\n",
            spoken(sector, language),
            sector.as_str()
        ));
        for question in questions(sector, language) {
            text.push_str(&format!("- {} [{}]\n", question.ask, question.field));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sector_asks_the_common_questions_then_its_own() {
        for language in [Language::Fr, Language::En] {
            for sector in Sector::ALL {
                let asked = questions(sector, language);
                assert_eq!(asked[0].field, "business.name");
                assert!(asked.iter().any(|q| q.field == "business.transfer_number"));
                assert!(
                    asked.iter().any(|q| q.field.starts_with("sector_details.")),
                    "{sector:?} {language:?} asks nothing of its sector"
                );
            }
        }
    }

    #[test]
    fn both_languages_ask_the_same_fields() {
        for sector in Sector::ALL {
            let fields = |l| {
                questions(sector, l)
                    .iter()
                    .map(|q| q.field)
                    .collect::<Vec<_>>()
            };
            assert_eq!(fields(Language::Fr), fields(Language::En), "{sector:?}");
        }
    }

    #[test]
    fn the_prompt_names_every_sector_every_field_and_the_tools_in_order() {
        for language in [Language::Fr, Language::En] {
            let prompt = system_prompt(language);
            for sector in Sector::ALL {
                assert!(prompt.contains(&format!("sector: {}", sector.as_str())));
                for question in questions(sector, language) {
                    assert!(prompt.contains(question.ask), "{}", question.ask);
                }
            }
            let at = |tool: &str| prompt.find(tool).unwrap_or_else(|| panic!("{tool}"));
            assert!(at("get_sector_template") < at("validate_assistant_config"));
            assert!(at("validate_assistant_config") < at("create_assistant_and_provision_number"));
            assert!(at("create_assistant_and_provision_number") < at("get_assistant "));
        }
    }

    #[test]
    fn every_detail_field_asked_exists_in_the_sector_details() {
        use crate::domain::sector_details::*;
        for sector in Sector::ALL {
            let details = match sector {
                Sector::Restaurant => SectorDetails::Restaurant(RestaurantDetails::default()),
                Sector::HairBeautySalon => SectorDetails::HairBeautySalon(SalonDetails::default()),
                Sector::Craftsman => SectorDetails::Craftsman(CraftsmanDetails {
                    emergencies: Some(EmergencyPolicy::default()),
                    ..Default::default()
                }),
                Sector::LiberalProfession => {
                    SectorDetails::LiberalProfession(LiberalProfessionDetails::default())
                }
                Sector::Shop => SectorDetails::Shop(ShopDetails::default()),
                Sector::SmeCustomerService => {
                    SectorDetails::SmeCustomerService(CustomerServiceDetails::default())
                }
            };
            let json = serde_json::to_value(details).expect("details serialize");
            for question in questions(sector, Language::Fr) {
                let Some(path) = question.field.strip_prefix("sector_details.") else {
                    continue;
                };
                let mut at = &json;
                for part in path.split('.') {
                    at = at
                        .get(part)
                        .unwrap_or_else(|| panic!("{sector:?}: no field {}", question.field));
                }
            }
        }
    }
}
