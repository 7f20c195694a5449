//! Scripted onboardings through the MCP server: for each sector, a French small business whose
//! owner answers the configurator field by field, one answer first heard wrong, and the steps
//! an agent takes with those answers over MCP (rmcp's client over streamable HTTP), from the
//! tool list to an `active` assistant with its phone number. The simulated voice platform
//! plays it when someone "calls" a configurator with the simulated providers; the end-to-end
//! tests check what it stores; `zencall bench mcp` times it.

use std::time::{Duration, Instant};

use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, CallToolResult, ClientConfig};
use rmcp::service::{Peer, RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Map, Value, json};
use zencall_core::domain::sector::Sector;

/// Why an onboarding stopped: the step and what it answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct OnboardingError(pub String);

impl OnboardingError {
    fn new(message: String) -> Self {
        OnboardingError(message)
    }
}

/// Returns an [`OnboardingError`] made of a `format!`.
macro_rules! bail {
    ($($arg:tt)*) => {
        return Err(OnboardingError::new(format!($($arg)*)))
    };
}

/// An MCP client session.
pub type McpClient = RunningService<RoleClient, ClientConfig>;

/// How often `get_assistant` is polled while the number is being bought.
pub const POLL_EVERY: Duration = Duration::from_millis(50);

/// The tools an onboarding uses; `tools/list` must offer them all.
const TOOLS_USED: [&str; 5] = [
    "get_sector_template",
    "get_assistant_config_schema",
    "validate_assistant_config",
    "create_assistant_and_provision_number",
    "get_assistant",
];

/// Opens an MCP session with `base`'s `/mcp` (`http://host:port`) with API key `key`: the
/// `initialize` handshake included.
pub async fn connect(base: &str, key: &str) -> Result<McpClient, OnboardingError> {
    let config = StreamableHttpClientTransportConfig::with_uri(format!(
        "{}/mcp",
        base.trim_end_matches('/')
    ))
    .auth_header(key);
    ClientConfig::default()
        .serve(StreamableHttpClientTransport::from_config(config))
        .await
        .map_err(|e| OnboardingError::new(format!("MCP initialize with {base}/mcp failed: {e}")))
}

/// One answer of the owner: the configuration field it fills and what was said.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// Where it goes in the configuration: object keys joined by dots
    /// (`business.transfer_number`, `sector_details.covers`).
    pub field: &'static str,
    /// What the configurator writes down.
    pub value: Value,
    /// What the assistant stores when it differs from `value` (a national phone number is
    /// stored in E.164).
    pub stored: Option<Value>,
}

impl Answer {
    fn new(field: &'static str, value: Value) -> Self {
        Answer {
            field,
            value,
            stored: None,
        }
    }

    fn stored_as(mut self, stored: Value) -> Self {
        self.stored = Some(stored);
        self
    }

    /// The value the stored assistant must hold for this field.
    pub fn expected(&self) -> &Value {
        self.stored.as_ref().unwrap_or(&self.value)
    }
}

/// The answer first heard wrong, which validation must refuse.
#[derive(Debug, Clone, PartialEq)]
pub struct Mistake {
    /// The field of the answer heard wrong (one of the script's answers).
    pub answer: &'static str,
    /// What was heard.
    pub heard: Value,
    /// The field `validate_assistant_config` must name (it may lie inside the answer, e.g.
    /// `sector_details.services[3].duration_minutes`).
    pub refused_field: &'static str,
}

/// A business owner's onboarding: their answers in the order the configurator asks, and the
/// one it first hears wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct OnboardingScript {
    /// The business's sector.
    pub sector: Sector,
    /// The answers, one per configuration field.
    pub answers: Vec<Answer>,
    /// The answer first heard wrong.
    pub mistake: Mistake,
}

impl OnboardingScript {
    /// The script of `sector`'s business.
    pub fn for_sector(sector: Sector) -> Self {
        match sector {
            Sector::Restaurant => restaurant(),
            Sector::HairBeautySalon => salon(),
            Sector::Craftsman => craftsman(),
            Sector::LiberalProfession => liberal_profession(),
            Sector::Shop => shop(),
            Sector::SmeCustomerService => customer_service(),
        }
    }

    /// One script per sector, in [`Sector::ALL`]'s order.
    pub fn all() -> Vec<Self> {
        Sector::ALL.iter().map(|s| Self::for_sector(*s)).collect()
    }

    /// The answer for `field`, if the owner gave one.
    pub fn answer(&self, field: &str) -> Option<&Answer> {
        self.answers.iter().find(|a| a.field == field)
    }

    /// The configuration as first written down, with the mistake.
    pub fn first_draft(&self) -> Value {
        draft(self.answers.iter().map(|a| {
            if a.field == self.mistake.answer {
                (a.field, &self.mistake.heard)
            } else {
                (a.field, &a.value)
            }
        }))
    }

    /// The configuration once the mistake is corrected.
    pub fn corrected_draft(&self) -> Value {
        draft(self.answers.iter().map(|a| (a.field, &a.value)))
    }

    /// The configuration as the assistant must store it: every answer at its stored value.
    pub fn stored_config(&self) -> Value {
        draft(self.answers.iter().map(|a| (a.field, a.expected())))
    }
}

/// The configuration holding `answers`, each set at its dotted path.
fn draft<'a>(answers: impl Iterator<Item = (&'static str, &'a Value)>) -> Value {
    let mut root = Map::new();
    for (field, value) in answers {
        let mut parts = field.split('.').peekable();
        let mut node = &mut root;
        while let Some(key) = parts.next() {
            if parts.peek().is_none() {
                node.insert(key.to_string(), value.clone());
                break;
            }
            let child = node
                .entry(key.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if !child.is_object() {
                *child = Value::Object(Map::new());
            }
            let Some(map) = child.as_object_mut() else {
                break;
            };
            node = map;
        }
    }
    Value::Object(root)
}

/// The weekly hours: `days` open with `ranges`, the others closed.
fn week(days: &[(&str, &[(&str, &str)])]) -> Value {
    let mut weekly = Map::new();
    for day in [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ] {
        let ranges = days
            .iter()
            .find(|(d, _)| *d == day)
            .map(|(_, ranges)| ranges.iter().map(|(s, e)| json!([s, e])).collect())
            .unwrap_or_default();
        weekly.insert(day.to_string(), Value::Array(ranges));
    }
    Value::Object(weekly)
}

fn restaurant() -> OnboardingScript {
    let service: &[(&str, &str)] = &[("12:00", "14:00"), ("19:00", "22:30")];
    OnboardingScript {
        sector: Sector::Restaurant,
        answers: vec![
            Answer::new("sector", json!("restaurant")),
            Answer::new("language", json!("fr")),
            Answer::new("name", json!("Accueil du Bouchon des Canuts")),
            Answer::new("business.name", json!("Le Bouchon des Canuts")),
            Answer::new("business.address", json!("14 rue d'Austerlitz, 69004 Lyon")),
            Answer::new(
                "business.opening_hours",
                json!("du mardi au samedi, 12h-14h et 19h-22h30"),
            ),
            Answer::new("business.hours.time_zone", json!("Europe/Paris")),
            Answer::new(
                "business.hours.weekly",
                week(&[
                    ("tuesday", service),
                    ("wednesday", service),
                    ("thursday", service),
                    ("friday", service),
                    ("saturday", service),
                ]),
            ),
            Answer::new("business.hours.holidays", json!("fr")),
            Answer::new(
                "business.hours.closed_dates",
                json!(["2027-08-09", "2027-08-10", "2027-08-11"]),
            ),
            Answer::new("business.hours.slot_step_minutes", json!(15)),
            Answer::new("business.hours.min_notice_minutes", json!(60)),
            Answer::new(
                "business.services",
                json!(["déjeuner", "dîner", "vente à emporter"]),
            ),
            Answer::new("business.transfer_number", json!("04 78 28 61 40"))
                .stored_as(json!("+33478286140")),
            Answer::new(
                "greeting",
                json!("Le Bouchon des Canuts, bonjour ! Que puis-je faire pour vous ?"),
            ),
            Answer::new("phone_number.country", json!("FR")),
            Answer::new("phone_number.area_code", json!("4")),
            Answer::new("sector_details.sector", json!("restaurant")),
            Answer::new("sector_details.covers", json!(45)),
            Answer::new("sector_details.max_party_size", json!(12)),
            Answer::new("sector_details.groups", json!(true)),
            Answer::new("sector_details.private_hire", json!(true)),
        ],
        // "Groups up to twelve, sixty covers in the room" heard the wrong way round.
        mistake: Mistake {
            answer: "sector_details.max_party_size",
            heard: json!(60),
            refused_field: "sector_details.max_party_size",
        },
    }
}

fn salon() -> OnboardingScript {
    let day: &[(&str, &str)] = &[("09:30", "19:00")];
    let services = |balayage_minutes: u32| {
        json!([
            {"name": "Coupe femme", "duration_minutes": 45, "price_cents": 4500},
            {"name": "Coupe homme", "duration_minutes": 30, "price_cents": 2500},
            {"name": "Couleur", "duration_minutes": 90, "price_cents": 6500},
            {"name": "Balayage", "duration_minutes": balayage_minutes, "price_cents": 11000}
        ])
    };
    OnboardingScript {
        sector: Sector::HairBeautySalon,
        answers: vec![
            Answer::new("sector", json!("hair_beauty_salon")),
            Answer::new("language", json!("fr")),
            Answer::new("name", json!("Accueil Salon Camille")),
            Answer::new("business.name", json!("Salon Camille")),
            Answer::new("business.address", json!("27 rue des Martyrs, 75009 Paris")),
            Answer::new(
                "business.opening_hours",
                json!(
                    "du mardi au vendredi 9h30-19h, nocturne le jeudi jusqu'à 20h30, le samedi 9h-18h"
                ),
            ),
            Answer::new("business.hours.time_zone", json!("Europe/Paris")),
            Answer::new(
                "business.hours.weekly",
                week(&[
                    ("tuesday", day),
                    ("wednesday", day),
                    ("thursday", &[("09:30", "20:30")]),
                    ("friday", day),
                    ("saturday", &[("09:00", "18:00")]),
                ]),
            ),
            Answer::new("business.hours.holidays", json!("fr")),
            Answer::new("business.hours.closed_dates", json!([])),
            Answer::new("business.hours.slot_step_minutes", json!(15)),
            Answer::new("business.hours.min_notice_minutes", json!(120)),
            Answer::new(
                "business.services",
                json!(["coupe", "couleur", "balayage", "soins"]),
            ),
            Answer::new("business.transfer_number", json!("06 12 48 37 90"))
                .stored_as(json!("+33612483790")),
            Answer::new("voice", json!("azure:fr-FR-EloiseNeural")),
            Answer::new("phone_number.country", json!("FR")),
            Answer::new("phone_number.area_code", json!("1")),
            Answer::new("sector_details.sector", json!("hair_beauty_salon")),
            Answer::new("sector_details.services", services(150)),
        ],
        // "Two hours and a half" written down as 500 minutes.
        mistake: Mistake {
            answer: "sector_details.services",
            heard: services(500),
            refused_field: "sector_details.services[3].duration_minutes",
        },
    }
}

fn craftsman() -> OnboardingScript {
    let day: &[(&str, &str)] = &[("08:00", "12:00"), ("13:30", "18:00")];
    OnboardingScript {
        sector: Sector::Craftsman,
        answers: vec![
            Answer::new("sector", json!("craftsman")),
            Answer::new("language", json!("fr")),
            Answer::new("name", json!("Standard Plomberie Moreau")),
            Answer::new("business.name", json!("Plomberie Moreau")),
            Answer::new(
                "business.address",
                json!("8 avenue Jean Jaurès, 33150 Cenon"),
            ),
            Answer::new(
                "business.opening_hours",
                json!("du lundi au vendredi, 8h-12h et 13h30-18h"),
            ),
            Answer::new("business.hours.time_zone", json!("Europe/Paris")),
            Answer::new(
                "business.hours.weekly",
                week(&[
                    ("monday", day),
                    ("tuesday", day),
                    ("wednesday", day),
                    ("thursday", day),
                    ("friday", day),
                ]),
            ),
            Answer::new("business.hours.holidays", json!("fr")),
            Answer::new("business.hours.closed_dates", json!(["2027-08-16"])),
            Answer::new("business.hours.slot_step_minutes", json!(30)),
            Answer::new("business.hours.min_notice_minutes", json!(240)),
            Answer::new(
                "business.services",
                json!([
                    "dépannage",
                    "installation sanitaire",
                    "chauffe-eau",
                    "entretien de chaudière"
                ]),
            ),
            Answer::new("business.transfer_number", json!("06 71 22 58 14"))
                .stored_as(json!("+33671225814")),
            Answer::new("phone_number.country", json!("FR")),
            Answer::new("phone_number.area_code", json!("5")),
            Answer::new("sector_details.sector", json!("craftsman")),
            Answer::new("sector_details.trades", json!(["plomberie", "chauffage"])),
            Answer::new(
                "sector_details.service_area",
                json!("Bordeaux et 25 km autour (Cenon, Mérignac, Pessac, Bègles)"),
            ),
            Answer::new("sector_details.emergencies.accepted", json!(true)),
            Answer::new(
                "sector_details.emergencies.outside_hours",
                json!("le soir jusqu'à 22h et le week-end"),
            ),
            Answer::new("sector_details.emergencies.surcharge_cents", json!(6000)),
        ],
        // The last two digits lost.
        mistake: Mistake {
            answer: "business.transfer_number",
            heard: json!("06 71 22 58"),
            refused_field: "business.transfer_number",
        },
    }
}

fn liberal_profession() -> OnboardingScript {
    let day: &[(&str, &str)] = &[("08:30", "12:30"), ("14:00", "19:00")];
    let weekly = |wednesday_end: &str| {
        week(&[
            ("monday", day),
            ("tuesday", day),
            ("wednesday", &[("08:30", "12:30"), ("14:00", wednesday_end)]),
            ("thursday", day),
            ("friday", day),
            ("saturday", &[("09:00", "12:00")]),
        ])
    };
    OnboardingScript {
        sector: Sector::LiberalProfession,
        answers: vec![
            Answer::new("sector", json!("liberal_profession")),
            Answer::new("language", json!("fr")),
            Answer::new("name", json!("Secrétariat du Dr Lambert")),
            Answer::new("business.name", json!("Cabinet du Dr Sophie Lambert")),
            Answer::new(
                "business.address",
                json!("42 boulevard Voltaire, 75011 Paris"),
            ),
            Answer::new(
                "business.opening_hours",
                json!("du lundi au vendredi 8h30-12h30 et 14h-19h, le samedi 9h-12h"),
            ),
            Answer::new("business.hours.time_zone", json!("Europe/Paris")),
            Answer::new("business.hours.weekly", weekly("19:00")),
            Answer::new("business.hours.holidays", json!("fr")),
            Answer::new("business.hours.closed_dates", json!([])),
            Answer::new("business.hours.slot_step_minutes", json!(20)),
            Answer::new("business.hours.min_notice_minutes", json!(60)),
            Answer::new(
                "business.services",
                json!(["consultation", "vaccination", "certificat médical"]),
            ),
            Answer::new("business.transfer_number", json!("01 43 57 21 09"))
                .stored_as(json!("+33143572109")),
            Answer::new(
                "greeting",
                json!("Cabinet du docteur Lambert, bonjour. Que puis-je faire pour vous ?"),
            ),
            Answer::new("phone_number.country", json!("FR")),
            Answer::new("phone_number.area_code", json!("1")),
            Answer::new("sector_details.sector", json!("liberal_profession")),
            Answer::new("sector_details.profession", json!("médecin généraliste")),
            Answer::new("sector_details.accepts_new_clients", json!(false)),
            Answer::new(
                "sector_details.appointment_kinds",
                json!([
                    {"name": "Consultation", "duration_minutes": 20, "price_cents": 3000},
                    {"name": "Consultation longue", "duration_minutes": 40, "price_cents": 6000},
                    {"name": "Vaccination", "duration_minutes": 15, "price_cents": null}
                ]),
            ),
        ],
        // "Wednesday until seven" written down as 07:00.
        mistake: Mistake {
            answer: "business.hours.weekly",
            heard: weekly("07:00"),
            refused_field: "business.hours.weekly.wednesday[1]",
        },
    }
}

fn shop() -> OnboardingScript {
    let day: &[(&str, &str)] = &[("09:30", "13:00"), ("15:30", "19:30")];
    OnboardingScript {
        sector: Sector::Shop,
        answers: vec![
            Answer::new("sector", json!("shop")),
            Answer::new("language", json!("fr")),
            Answer::new("name", json!("Accueil Fromagerie des Abbesses")),
            Answer::new("business.name", json!("Fromagerie des Abbesses")),
            Answer::new(
                "business.address",
                json!("18 rue des Abbesses, 75018 Paris"),
            ),
            Answer::new(
                "business.opening_hours",
                json!("du mardi au samedi 9h30-13h et 15h30-19h30, le dimanche 9h30-13h"),
            ),
            Answer::new("business.hours.time_zone", json!("Europe/Paris")),
            Answer::new(
                "business.hours.weekly",
                week(&[
                    ("tuesday", day),
                    ("wednesday", day),
                    ("thursday", day),
                    ("friday", day),
                    ("saturday", day),
                    ("sunday", &[("09:30", "13:00")]),
                ]),
            ),
            Answer::new("business.hours.holidays", json!("fr")),
            Answer::new(
                "business.hours.closed_dates",
                json!(["2026-12-26", "2027-01-02"]),
            ),
            Answer::new("business.hours.slot_step_minutes", json!(15)),
            Answer::new("business.hours.min_notice_minutes", json!(60)),
            Answer::new(
                "business.services",
                json!([
                    "fromages affinés",
                    "plateaux de fromages",
                    "crèmerie",
                    "vins"
                ]),
            ),
            Answer::new("business.transfer_number", json!("01 42 64 11 73"))
                .stored_as(json!("+33142641173")),
            Answer::new("voice", json!("azure:fr-FR-HenriNeural")),
            Answer::new("phone_number.country", json!("FR")),
            Answer::new("phone_number.area_code", json!("1")),
            Answer::new("sector_details.sector", json!("shop")),
            Answer::new("sector_details.click_and_collect", json!(true)),
            Answer::new("sector_details.delivery", json!(true)),
            Answer::new(
                "sector_details.delivery_area",
                json!("Paris 9e, 17e et 18e, à vélo"),
            ),
        ],
        // A closing date written the French way.
        mistake: Mistake {
            answer: "business.hours.closed_dates",
            heard: json!(["26/12/2026", "2027-01-02"]),
            refused_field: "business.hours.closed_dates[0]",
        },
    }
}

fn customer_service() -> OnboardingScript {
    let day: &[(&str, &str)] = &[("09:00", "18:00")];
    OnboardingScript {
        sector: Sector::SmeCustomerService,
        answers: vec![
            Answer::new("sector", json!("sme_customer_service")),
            Answer::new("language", json!("fr")),
            Answer::new("name", json!("Service client Literie Lefèvre")),
            Answer::new("business.name", json!("Literie Lefèvre")),
            Answer::new(
                "business.address",
                json!("12 rue de l'Industrie, 59700 Marcq-en-Barœul"),
            ),
            Answer::new(
                "business.opening_hours",
                json!("du lundi au vendredi, 9h-18h"),
            ),
            Answer::new("business.hours.time_zone", json!("Europe/Paris")),
            Answer::new(
                "business.hours.weekly",
                week(&[
                    ("monday", day),
                    ("tuesday", day),
                    ("wednesday", day),
                    ("thursday", day),
                    ("friday", day),
                ]),
            ),
            Answer::new("business.hours.holidays", json!("fr")),
            Answer::new("business.hours.closed_dates", json!([])),
            Answer::new("business.hours.slot_step_minutes", json!(30)),
            Answer::new("business.hours.min_notice_minutes", json!(60)),
            Answer::new(
                "business.services",
                json!([
                    "suivi de commande",
                    "livraison",
                    "retours et échanges",
                    "garantie"
                ]),
            ),
            Answer::new("business.transfer_number", json!("03 20 45 67 89"))
                .stored_as(json!("+33320456789")),
            Answer::new(
                "greeting",
                json!("Literie Lefèvre, service client, bonjour !"),
            ),
            Answer::new("voice", json!("azure:fr-FR-DeniseNeural")),
            Answer::new("phone_number.country", json!("FR")),
            Answer::new("phone_number.area_code", json!("3")),
            Answer::new("sector_details.sector", json!("sme_customer_service")),
            Answer::new(
                "sector_details.topics",
                json!([
                    "commandes",
                    "livraisons",
                    "retours",
                    "garantie",
                    "facturation"
                ]),
            ),
            Answer::new(
                "sector_details.escalation_contact.name",
                json!("Service client, niveau 2"),
            ),
            Answer::new(
                "sector_details.escalation_contact.phone_number",
                json!("03 20 45 67 80"),
            )
            .stored_as(json!("+33320456780")),
            Answer::new(
                "sector_details.escalation_contact.email",
                json!("sav@literie-lefevre.fr"),
            ),
        ],
        // The domain's ending lost.
        mistake: Mistake {
            answer: "sector_details.escalation_contact.email",
            heard: json!("sav@literie-lefevre"),
            refused_field: "sector_details.escalation_contact.email",
        },
    }
}

/// One call an onboarding made and how long it took, answer read.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    /// The tool's name, or `tools/list`.
    pub tool: String,
    /// From sending the request to reading the answer.
    pub latency: Duration,
}

/// What an onboarding did and found.
#[derive(Debug, Clone)]
pub struct OnboardingReport {
    /// The business's sector.
    pub sector: Sector,
    /// Every call, in order (`tools/list` first, then each tool call, polls included).
    pub calls: Vec<ToolCall>,
    /// From sending the first call to reading the `get_assistant` answer showing the
    /// assistant `active`.
    pub to_active: Duration,
    /// The assistant created, `asst_...`.
    pub assistant_id: String,
    /// Its phone number, E.164.
    pub phone_number: String,
    /// The field the first validation refused.
    pub refused_field: String,
    /// What the first validation said about it.
    pub refusal: String,
    /// The configuration created: the corrected draft.
    pub final_draft: Value,
}

/// An MCP client that times every call.
struct TimedClient<'a> {
    peer: &'a Peer<RoleClient>,
    calls: Vec<ToolCall>,
}

impl TimedClient<'_> {
    /// Calls `tool` with `args`; its structured answer, or an error saying why not.
    async fn call(&mut self, tool: &str, args: Value) -> Result<Value, OnboardingError> {
        let Value::Object(args) = args else {
            bail!("{tool}: the arguments must be a JSON object");
        };
        let started = Instant::now();
        let result = self
            .peer
            .call_tool(CallToolRequestParams::new(tool.to_string()).with_arguments(args))
            .await;
        self.calls.push(ToolCall {
            tool: tool.to_string(),
            latency: started.elapsed(),
        });
        let result = result.map_err(|e| OnboardingError::new(format!("{tool}: MCP error: {e}")))?;
        if result.is_error == Some(true) {
            bail!("{tool} refused: {}", text_of(&result));
        }
        result
            .structured_content
            .ok_or_else(|| OnboardingError::new(format!("{tool} answered no structured content")))
    }
}

/// The text blocks of a tool result, joined.
fn text_of(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs `script` as an agent would over `client`: lists the tools, reads the sector's
/// template and the configuration's schema, validates the first draft (which must be refused
/// at the mistaken field), validates the corrected one, creates the assistant, then polls
/// `get_assistant` every [`POLL_EVERY`] until it is `active` with a number. Fails when a step
/// answers otherwise, when the assistant ends `failed`, or after `timeout` of polling.
pub async fn run(
    client: &Peer<RoleClient>,
    script: &OnboardingScript,
    timeout: Duration,
) -> Result<OnboardingReport, OnboardingError> {
    let sector = script.sector.as_str();
    let mut timed = TimedClient {
        peer: client,
        calls: Vec::new(),
    };
    let first_call = Instant::now();
    let tools = client
        .list_tools(None)
        .await
        .map_err(|e| OnboardingError::new(format!("tools/list: MCP error: {e}")))?;
    timed.calls.push(ToolCall {
        tool: "tools/list".into(),
        latency: first_call.elapsed(),
    });
    for needed in TOOLS_USED {
        if !tools.tools.iter().any(|t| t.name == needed) {
            bail!("tools/list does not offer {needed}");
        }
    }

    let language = script
        .answer("language")
        .and_then(|a| a.value.as_str())
        .unwrap_or("fr");
    let template = timed
        .call(
            "get_sector_template",
            json!({"sector": sector, "language": language}),
        )
        .await?;
    if template["sector"] != sector {
        bail!("get_sector_template answered another sector: {template}");
    }
    let schema = timed.call("get_assistant_config_schema", json!({})).await?;
    if !schema["properties"]["sector_details"].is_object() {
        bail!("the configuration schema has no sector_details");
    }

    let first = timed
        .call("validate_assistant_config", script.first_draft())
        .await?;
    if first["valid"] != false {
        bail!(
            "the first draft was accepted; {} should have been refused",
            script.mistake.refused_field
        );
    }
    let refusal = first["errors"]
        .as_array()
        .and_then(|errors| {
            errors
                .iter()
                .find(|e| e["field"] == script.mistake.refused_field)
        })
        .ok_or_else(|| {
            OnboardingError::new(format!(
                "the first draft was refused, but not at {}: {}",
                script.mistake.refused_field, first["errors"]
            ))
        })?;
    let refused_field = script.mistake.refused_field.to_string();
    let refusal = refusal["message"].as_str().unwrap_or_default().to_string();

    let final_draft = script.corrected_draft();
    let second = timed
        .call("validate_assistant_config", final_draft.clone())
        .await?;
    if second["valid"] != true {
        bail!("the corrected draft was refused: {}", second["errors"]);
    }

    let created = timed
        .call("create_assistant_and_provision_number", final_draft.clone())
        .await?;
    let assistant_id = created["id"]
        .as_str()
        .ok_or_else(|| {
            OnboardingError::new(format!(
                "create_assistant_and_provision_number gave no id: {created}"
            ))
        })?
        .to_string();

    let polling_since = Instant::now();
    loop {
        let got = timed
            .call("get_assistant", json!({"assistant_id": assistant_id}))
            .await?;
        let assistant = &got["assistant"];
        match assistant["status"].as_str() {
            Some("active") => {
                let to_active = first_call.elapsed();
                let phone_number = assistant["phone_number"]
                    .as_str()
                    .ok_or_else(|| {
                        OnboardingError::new(format!(
                            "assistant {assistant_id} is active without a number"
                        ))
                    })?
                    .to_string();
                return Ok(OnboardingReport {
                    sector: script.sector,
                    calls: timed.calls,
                    to_active,
                    assistant_id,
                    phone_number,
                    refused_field,
                    refusal,
                    final_draft,
                });
            }
            Some("failed") => bail!(
                "assistant {assistant_id} failed: {}",
                assistant["failure_reason"]
                    .as_str()
                    .unwrap_or("no reason given")
            ),
            status => {
                if polling_since.elapsed() >= timeout {
                    bail!(
                        "assistant {assistant_id} is still {} after {:.1} s",
                        status.unwrap_or("without a status"),
                        timeout.as_secs_f64()
                    );
                }
            }
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

#[cfg(test)]
mod tests {
    use zencall_core::domain::configurator;
    use zencall_core::domain::sector::Language;

    use super::*;

    /// What the owner says without being asked one of the configurator's questions: the
    /// sector (the configurator's greeting asks it), and what the configurator fills in itself.
    const NOT_ASKED: [&str; 8] = [
        "name",
        "sector",
        "language",
        "voice",
        "greeting",
        "phone_number.country",
        "sector_details.sector",
        "business.opening_hours",
    ];

    #[test]
    fn every_answer_replies_to_a_question_of_the_configurator_and_every_detail_asked_is_answered() {
        let related = |a: &str, b: &str| {
            a == b || a.starts_with(&format!("{b}.")) || b.starts_with(&format!("{a}."))
        };
        for script in OnboardingScript::all() {
            let asked = configurator::questions(script.sector, Language::Fr);
            for answer in &script.answers {
                assert!(
                    NOT_ASKED.contains(&answer.field)
                        || asked.iter().any(|q| related(answer.field, q.field)),
                    "{:?}: {} answers no question",
                    script.sector,
                    answer.field
                );
            }
            for question in asked
                .iter()
                .filter(|q| q.field.starts_with("sector_details."))
            {
                assert!(
                    script
                        .answers
                        .iter()
                        .any(|a| related(a.field, question.field)),
                    "{:?}: nobody answers {}",
                    script.sector,
                    question.field
                );
            }
        }
    }

    #[test]
    fn each_sector_has_a_script_of_its_own_sector_with_a_mistake_in_one_of_its_answers() {
        let scripts = OnboardingScript::all();
        assert_eq!(scripts.len(), 6);
        let mut refused = Vec::new();
        for script in &scripts {
            let draft = script.corrected_draft();
            assert_eq!(draft["sector"], script.sector.as_str());
            assert_eq!(draft["sector_details"]["sector"], script.sector.as_str());
            let mistaken = script
                .answer(script.mistake.answer)
                .expect("the mistake replaces an answer");
            assert_ne!(mistaken.value, script.mistake.heard);
            assert_ne!(script.first_draft(), draft);
            refused.push(script.mistake.refused_field);
        }
        refused.sort();
        refused.dedup();
        assert_eq!(refused.len(), 6, "one field per sector: {refused:?}");
    }

    #[test]
    fn answers_are_set_at_their_dotted_paths() {
        let script = OnboardingScript::for_sector(Sector::SmeCustomerService);
        let draft = script.corrected_draft();
        assert_eq!(
            draft["sector_details"]["escalation_contact"]["email"],
            "sav@literie-lefevre.fr"
        );
        assert_eq!(draft["business"]["hours"]["time_zone"], "Europe/Paris");
        assert_eq!(draft["phone_number"]["area_code"], "3");
        let first = script.first_draft();
        assert_eq!(
            first["sector_details"]["escalation_contact"]["email"],
            "sav@literie-lefevre"
        );
    }

    #[test]
    fn the_drafts_read_as_assistant_requests_and_only_the_first_is_refused() {
        use zencall_core::domain::assistant::AssistantRequest;
        for script in OnboardingScript::all() {
            let corrected: AssistantRequest =
                serde_json::from_value(script.corrected_draft()).expect("corrected draft");
            corrected
                .validate()
                .unwrap_or_else(|e| panic!("{:?}: {e:?}", script.sector));
            let first: AssistantRequest =
                serde_json::from_value(script.first_draft()).expect("first draft");
            let errors = first.validate().expect_err("the mistake is refused");
            assert_eq!(
                errors.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(),
                [script.mistake.refused_field],
                "{:?}",
                script.sector
            );
        }
    }
}
