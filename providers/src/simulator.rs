//! The simulator: an in-memory stand-in for both Vapi and Twilio, used by `zencall up` when no
//! credentials are configured and by tests. It hands out ids shaped like the real ones (Vapi's
//! lowercase UUIDs, Twilio's `PN` + 32 hex digits), offers numbers that are valid for their
//! country, never offers a number twice once bought, and waits about `latency_ms` (± 30 %) per
//! call so that the rest of the platform sees realistic timings.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rand::RngExt;
use zencall_core::config::SimulatorSettings;
use zencall_core::domain::phone::PhoneNumber;

use crate::ProviderError;
use crate::simulated_calls::{CallOutcome, CallReporter, Direction, SimulatedCall};
use crate::telephony::{AvailableNumber, NumberSearch, OwnedNumber, Telephony};
use crate::voice::{AssistantSpec, NumberImport, VoicePlatform};

/// Provider name of the simulated voice platform.
const VOICE: &str = "vapi-simulator";
/// Provider name of the simulated telephony.
const TELEPHONY: &str = "twilio-simulator";
/// How many numbers a search offers.
const OFFERED: usize = 5;
/// Random draws tried per number before giving up on an area code.
const DRAWS_PER_NUMBER: usize = 40;

/// Simulated Vapi and Twilio, sharing one in-memory state; clones share it too.
#[derive(Debug, Clone)]
pub struct Simulator {
    latency: Duration,
    state: Arc<Mutex<State>>,
    reporter: Arc<Mutex<Option<CallReporter>>>,
}

#[derive(Debug, Default)]
struct State {
    /// Assistants by platform id.
    assistants: HashMap<String, Assistant>,
    /// Imported numbers by platform id.
    imported: HashMap<String, NumberImport>,
    /// Owned numbers by SID.
    owned: HashMap<String, Owned>,
}

#[derive(Debug)]
struct Assistant {
    spec: AssistantSpec,
    created_at: DateTime<Utc>,
}

#[derive(Debug)]
struct Owned {
    number: String,
    label: String,
}

/// How to draw local numbers in one country.
struct NumberPlan {
    /// Country calling code.
    calling_code: &'static str,
    /// Digits in the national significant number.
    national_len: usize,
    /// Whether an area code's leading trunk `0` is dropped.
    drop_trunk_zero: bool,
    /// Allowed first digits of a geographic national number.
    geographic_first: &'static str,
    /// Prefixes used when no area code is asked for, with their locality.
    defaults: &'static [(&'static str, &'static str)],
}

/// The countries the simulator offers numbers in.
fn plan(country: &str) -> Option<NumberPlan> {
    let plan = match country {
        "FR" => NumberPlan {
            calling_code: "33",
            national_len: 9,
            drop_trunk_zero: true,
            geographic_first: "12345",
            defaults: &[
                ("1", "Paris"),
                ("2", "Rennes"),
                ("3", "Lille"),
                ("4", "Lyon"),
                ("5", "Bordeaux"),
            ],
        },
        "US" => NumberPlan {
            calling_code: "1",
            national_len: 10,
            drop_trunk_zero: false,
            geographic_first: "23456789",
            defaults: &[
                ("415", "San Francisco"),
                ("212", "New York"),
                ("312", "Chicago"),
                ("617", "Boston"),
                ("206", "Seattle"),
            ],
        },
        "CA" => NumberPlan {
            calling_code: "1",
            national_len: 10,
            drop_trunk_zero: false,
            geographic_first: "23456789",
            defaults: &[
                ("416", "Toronto"),
                ("514", "Montréal"),
                ("604", "Vancouver"),
                ("613", "Ottawa"),
            ],
        },
        "GB" => NumberPlan {
            calling_code: "44",
            national_len: 10,
            drop_trunk_zero: true,
            geographic_first: "12",
            defaults: &[
                ("20", "London"),
                ("121", "Birmingham"),
                ("161", "Manchester"),
                ("131", "Edinburgh"),
            ],
        },
        "BE" => NumberPlan {
            calling_code: "32",
            national_len: 8,
            drop_trunk_zero: true,
            geographic_first: "23456789",
            defaults: &[("2", "Bruxelles"), ("3", "Antwerpen"), ("9", "Gent")],
        },
        "CH" => NumberPlan {
            calling_code: "41",
            national_len: 9,
            drop_trunk_zero: true,
            geographic_first: "23456789",
            defaults: &[
                ("22", "Genève"),
                ("21", "Lausanne"),
                ("31", "Bern"),
                ("44", "Zürich"),
            ],
        },
        "ES" => NumberPlan {
            calling_code: "34",
            national_len: 9,
            drop_trunk_zero: false,
            geographic_first: "89",
            defaults: &[
                ("91", "Madrid"),
                ("93", "Barcelona"),
                ("96", "Valencia"),
                ("95", "Sevilla"),
            ],
        },
        "DE" => NumberPlan {
            calling_code: "49",
            national_len: 10,
            drop_trunk_zero: true,
            geographic_first: "23456789",
            defaults: &[
                ("30", "Berlin"),
                ("40", "Hamburg"),
                ("89", "München"),
                ("69", "Frankfurt am Main"),
            ],
        },
        "IT" => NumberPlan {
            calling_code: "39",
            national_len: 10,
            drop_trunk_zero: false,
            geographic_first: "0",
            defaults: &[("06", "Roma"), ("02", "Milano")],
        },
        _ => return None,
    };
    Some(plan)
}

impl NumberPlan {
    /// The national prefix for an asked area code, or `None` when it cannot be geographic here.
    fn prefix(&self, area_code: &str) -> Option<String> {
        let digits: String = area_code
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect();
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let prefix = if self.drop_trunk_zero {
            digits.strip_prefix('0').unwrap_or(&digits)
        } else {
            &digits
        };
        let first = prefix.chars().next()?;
        (self.geographic_first.contains(first) && prefix.len() < self.national_len)
            .then(|| prefix.to_string())
    }

    /// Draws a valid E.164 number starting with `prefix`, not in `taken`.
    fn draw(&self, prefix: &str, taken: &dyn Fn(&str) -> bool) -> Option<String> {
        let mut rng = rand::rng();
        (0..DRAWS_PER_NUMBER).find_map(|_| {
            let rest: String = (prefix.len()..self.national_len)
                .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
                .collect();
            let text = format!("+{}{prefix}{rest}", self.calling_code);
            let number = PhoneNumber::parse(&text, None).ok()?;
            (!taken(number.as_str())).then(|| number.as_str().to_string())
        })
    }
}

impl Simulator {
    /// A simulator with no assistants and no numbers, waiting about `latency_ms` per call.
    pub fn new(settings: &SimulatorSettings) -> Self {
        Self {
            latency: Duration::from_millis(settings.latency_ms),
            state: Arc::new(Mutex::new(State::default())),
            reporter: Arc::new(Mutex::new(None)),
        }
    }

    /// Makes simulated calls report to our webhooks through `reporter` (clones share it).
    pub fn report_to(&self, reporter: CallReporter) {
        *self
            .reporter
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(reporter);
    }

    /// Simulates a call between `customer_number` and the assistant whose number is
    /// `our_number`: the providers' reports of it are POSTed, signed, to our webhooks in the
    /// background, about the simulated latency apart. Returns the call as it will be reported.
    pub fn simulate_call(
        &self,
        our_number: &str,
        customer_number: &str,
        direction: Direction,
        outcome: CallOutcome,
    ) -> Result<SimulatedCall, ProviderError> {
        let refuse = |message: String| ProviderError::Permanent {
            provider: VOICE,
            message,
        };
        let reporter = self
            .reporter
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
            .ok_or_else(|| refuse("simulated calls need the API in the same process".into()))?;
        let vapi_assistant_id = self
            .state()
            .imported
            .values()
            .find(|i| i.number == our_number)
            .map(|i| i.assistant_id.clone())
            .ok_or_else(|| refuse(format!("the number {our_number} is not imported")))?;
        let call = SimulatedCall {
            vapi_call_id: uuid_like(),
            twilio_call_sid: sid("CA"),
            vapi_assistant_id,
            our_number: our_number.to_string(),
            customer_number: customer_number.to_string(),
            direction,
            outcome,
            ringing_at: Utc::now(),
        };
        let pace = self.latency;
        let played = call.clone();
        tokio::spawn(async move {
            if let Err(e) = reporter.play(&played, pace).await {
                tracing::warn!(call = %played.vapi_call_id, error = %e, "a simulated call could not be reported");
            }
        });
        Ok(call)
    }

    /// How many assistants exist at the simulated voice platform.
    pub fn assistant_count(&self) -> usize {
        self.state().assistants.len()
    }

    /// The numbers the simulated telephony account owns, E.164.
    pub fn owned_numbers(&self) -> Vec<String> {
        let mut numbers: Vec<String> = self
            .state()
            .owned
            .values()
            .map(|o| o.number.clone())
            .collect();
        numbers.sort();
        numbers
    }

    /// How many numbers are imported at the simulated voice platform.
    pub fn imported_count(&self) -> usize {
        self.state().imported.len()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // The state stays consistent across a panic: every change is a single insert or remove.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Waits the simulated latency, ± 30 %.
    async fn pause(&self) {
        if self.latency.is_zero() {
            return;
        }
        let factor = rand::rng().random_range(0.7..=1.3);
        tokio::time::sleep(self.latency.mul_f64(factor)).await;
    }

    /// The numbers offered for a search, valid and not owned.
    fn offer(&self, search: &NumberSearch) -> Vec<AvailableNumber> {
        let country = search.country.trim().to_ascii_uppercase();
        let Some(plan) = plan(&country) else {
            return Vec::new();
        };
        let prefixes: Vec<(String, Option<&str>)> = match search.area_code.as_deref().map(str::trim)
        {
            Some(area) if !area.is_empty() => match plan.prefix(area) {
                Some(prefix) => {
                    let locality = plan
                        .defaults
                        .iter()
                        .find(|(p, _)| *p == prefix)
                        .map(|(_, l)| *l);
                    vec![(prefix, locality)]
                }
                None => return Vec::new(),
            },
            _ => plan
                .defaults
                .iter()
                .map(|(p, l)| ((*p).to_string(), Some(*l)))
                .collect(),
        };
        let state = self.state();
        let mut offered: Vec<AvailableNumber> = Vec::with_capacity(OFFERED);
        for i in 0..OFFERED {
            let (prefix, locality) = &prefixes[i % prefixes.len()];
            let taken = |n: &str| {
                state.owned.values().any(|o| o.number == n) || offered.iter().any(|a| a.number == n)
            };
            match plan.draw(prefix, &taken) {
                Some(number) => offered.push(AvailableNumber {
                    number,
                    locality: locality.map(str::to_string),
                }),
                // This prefix yields no valid number: give up on it rather than loop.
                None if prefixes.len() == 1 => break,
                None => {}
            }
        }
        offered
    }
}

/// A lowercase UUID (version 4), like Vapi's ids.
fn uuid_like() -> String {
    let mut bytes: [u8; 16] = rand::rng().random();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// A Twilio-like SID: `prefix` + 32 lowercase hex digits.
fn sid(prefix: &str) -> String {
    let bytes: [u8; 16] = rand::rng().random();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{prefix}{hex}")
}

#[async_trait]
impl VoicePlatform for Simulator {
    async fn create_assistant(&self, spec: &AssistantSpec) -> Result<String, ProviderError> {
        self.pause().await;
        let id = uuid_like();
        self.state().assistants.insert(
            id.clone(),
            Assistant {
                spec: spec.clone(),
                created_at: Utc::now(),
            },
        );
        Ok(id)
    }

    async fn find_assistant(
        &self,
        external_id: &str,
        created_after: DateTime<Utc>,
    ) -> Result<Option<String>, ProviderError> {
        self.pause().await;
        let state = self.state();
        Ok(state
            .assistants
            .iter()
            .filter(|(_, a)| a.spec.external_id == external_id && a.created_at >= created_after)
            .min_by_key(|(_, a)| a.created_at)
            .map(|(id, _)| id.clone()))
    }

    async fn update_assistant(&self, id: &str, spec: &AssistantSpec) -> Result<(), ProviderError> {
        self.pause().await;
        let mut state = self.state();
        let assistant = state
            .assistants
            .get_mut(id)
            .ok_or(ProviderError::NotFound { provider: VOICE })?;
        // Like the real update, the metadata (our id) is left as it was.
        let external_id = std::mem::take(&mut assistant.spec.external_id);
        assistant.spec = AssistantSpec {
            external_id,
            ..spec.clone()
        };
        Ok(())
    }

    async fn delete_assistant(&self, id: &str) -> Result<(), ProviderError> {
        self.pause().await;
        self.state()
            .assistants
            .remove(id)
            .map(|_| ())
            .ok_or(ProviderError::NotFound { provider: VOICE })
    }

    async fn import_number(&self, import: &NumberImport) -> Result<String, ProviderError> {
        self.pause().await;
        let mut state = self.state();
        if !state.assistants.contains_key(&import.assistant_id) {
            return Err(ProviderError::Permanent {
                provider: VOICE,
                message: format!(
                    "request refused (HTTP 400): no assistant {}",
                    import.assistant_id
                ),
            });
        }
        if state.imported.values().any(|n| n.number == import.number) {
            return Err(ProviderError::Permanent {
                provider: VOICE,
                message: format!(
                    "request refused (HTTP 400): the number {} is already imported",
                    import.number
                ),
            });
        }
        let id = uuid_like();
        state.imported.insert(id.clone(), import.clone());
        Ok(id)
    }

    async fn find_number(&self, number: &str) -> Result<Option<String>, ProviderError> {
        self.pause().await;
        Ok(self
            .state()
            .imported
            .iter()
            .find(|(_, n)| n.number == number)
            .map(|(id, _)| id.clone()))
    }

    async fn delete_number(&self, id: &str) -> Result<(), ProviderError> {
        self.pause().await;
        self.state()
            .imported
            .remove(id)
            .map(|_| ())
            .ok_or(ProviderError::NotFound { provider: VOICE })
    }
}

#[async_trait]
impl Telephony for Simulator {
    async fn search_numbers(
        &self,
        search: &NumberSearch,
    ) -> Result<Vec<AvailableNumber>, ProviderError> {
        self.pause().await;
        Ok(self.offer(search))
    }

    async fn buy_number(&self, number: &str, label: &str) -> Result<OwnedNumber, ProviderError> {
        self.pause().await;
        let number = PhoneNumber::parse(number, None).map_err(|e| ProviderError::Permanent {
            provider: TELEPHONY,
            message: format!("request refused (HTTP 400): {number} is {e}"),
        })?;
        let mut state = self.state();
        if state.owned.values().any(|o| o.number == number.as_str()) {
            return Err(ProviderError::NumberUnavailable {
                provider: TELEPHONY,
                number: number.to_string(),
            });
        }
        let sid = sid("PN");
        state.owned.insert(
            sid.clone(),
            Owned {
                number: number.to_string(),
                label: label.to_string(),
            },
        );
        Ok(OwnedNumber {
            sid,
            number: number.to_string(),
        })
    }

    async fn find_owned_number(&self, label: &str) -> Result<Option<OwnedNumber>, ProviderError> {
        self.pause().await;
        Ok(self
            .state()
            .owned
            .iter()
            .find(|(_, o)| o.label == label)
            .map(|(sid, o)| OwnedNumber {
                sid: sid.clone(),
                number: o.number.clone(),
            }))
    }

    async fn release_number(&self, sid: &str) -> Result<(), ProviderError> {
        self.pause().await;
        self.state()
            .owned
            .remove(sid)
            .map(|_| ())
            .ok_or(ProviderError::NotFound {
                provider: TELEPHONY,
            })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    fn simulator(latency_ms: u64) -> Simulator {
        Simulator::new(&SimulatorSettings { latency_ms })
    }

    fn search(country: &str, area_code: Option<&str>) -> NumberSearch {
        NumberSearch {
            country: country.into(),
            area_code: area_code.map(str::to_string),
        }
    }

    fn spec(external_id: &str) -> AssistantSpec {
        AssistantSpec {
            external_id: external_id.into(),
            name: "Salon Dupont".into(),
            language: "fr".into(),
            system_prompt: "Tu es l'assistant du salon.".into(),
            greeting: "Bonjour !".into(),
            voice: "azure:fr-FR-DeniseNeural".into(),
            server_url: "https://zencall.example/webhooks/vapi".into(),
        }
    }

    fn is_hex(s: &str) -> bool {
        s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    }

    #[tokio::test]
    async fn a_number_can_be_searched_bought_found_and_released() {
        let sim = simulator(0);
        let offered = sim
            .search_numbers(&search("FR", Some("01")))
            .await
            .expect("search");
        assert_eq!(offered.len(), 5);
        for n in &offered {
            assert!(n.number.starts_with("+331"), "{}", n.number);
            assert_eq!(
                PhoneNumber::parse(&n.number, None).expect("valid").as_str(),
                n.number
            );
        }
        let owned = sim
            .buy_number(&offered[0].number, "zencall-01JNUMBER")
            .await
            .expect("bought");
        assert_eq!(owned.number, offered[0].number);
        assert!(
            owned.sid.starts_with("PN") && owned.sid.len() == 34 && is_hex(&owned.sid[2..]),
            "{}",
            owned.sid
        );
        assert_eq!(
            sim.find_owned_number("zencall-01JNUMBER")
                .await
                .expect("find"),
            Some(owned.clone())
        );
        assert_eq!(sim.find_owned_number("other").await.expect("find"), None);
        sim.release_number(&owned.sid).await.expect("released");
        assert_eq!(
            sim.find_owned_number("zencall-01JNUMBER")
                .await
                .expect("find"),
            None
        );
        assert_eq!(
            sim.release_number(&owned.sid).await,
            Err(ProviderError::NotFound {
                provider: TELEPHONY
            })
        );
    }

    #[tokio::test]
    async fn a_bought_number_is_not_offered_again_nor_sold_twice() {
        let sim = simulator(0);
        let mut bought = Vec::new();
        for round in 0..20 {
            let offered = sim
                .search_numbers(&search("US", Some("415")))
                .await
                .expect("search");
            assert_eq!(offered.len(), 5);
            for n in &offered {
                assert!(!bought.contains(&n.number), "{} offered again", n.number);
            }
            let owned = sim
                .buy_number(&offered[0].number, &format!("label-{round}"))
                .await
                .expect("bought");
            bought.push(owned.number);
        }
        let again = sim.buy_number(&bought[0], "another").await;
        assert_eq!(
            again,
            Err(ProviderError::NumberUnavailable {
                provider: TELEPHONY,
                number: bought[0].clone()
            })
        );
        // A clone shares the state.
        let clone = sim.clone();
        assert!(
            clone
                .find_owned_number("label-3")
                .await
                .expect("find")
                .is_some()
        );
    }

    #[tokio::test]
    async fn every_supported_country_offers_valid_numbers() {
        let sim = simulator(0);
        for country in ["FR", "US", "CA", "GB", "BE", "CH", "ES", "DE", "IT"] {
            let offered = sim
                .search_numbers(&search(country, None))
                .await
                .expect("search");
            assert_eq!(offered.len(), 5, "{country}: {offered:?}");
            for n in offered {
                assert!(
                    PhoneNumber::parse(&n.number, None).is_ok(),
                    "{country}: {}",
                    n.number
                );
                assert!(n.locality.is_some());
            }
        }
        for (country, area) in [
            ("US", "212"),
            ("CA", "604"),
            ("FR", "4"),
            ("GB", "020"),
            ("IT", "06"),
        ] {
            let offered = sim
                .search_numbers(&search(country, Some(area)))
                .await
                .expect("search");
            assert_eq!(offered.len(), 5, "{country} {area}: {offered:?}");
        }
    }

    #[tokio::test]
    async fn an_area_without_numbers_gives_an_empty_list() {
        let sim = simulator(0);
        for (country, area) in [
            ("US", "999"),
            ("FR", "999"),
            ("FR", "06"),
            ("FR", "x1"),
            ("JP", "3"),
            ("AQ", ""),
        ] {
            let offered = sim
                .search_numbers(&search(country, Some(area)))
                .await
                .expect("search");
            assert!(offered.is_empty(), "{country} {area}: {offered:?}");
        }
    }

    #[tokio::test]
    async fn assistants_can_be_created_found_updated_and_deleted() {
        let sim = simulator(0);
        let before = Utc::now();
        let id = sim.create_assistant(&spec("01JA")).await.expect("created");
        let parts: Vec<&str> = id.split('-').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            vec![8, 4, 4, 4, 12],
            "{id}"
        );
        assert!(parts.iter().all(|p| is_hex(p)), "{id}");
        assert_eq!(
            sim.find_assistant("01JA", before).await.expect("find"),
            Some(id.clone())
        );
        assert_eq!(
            sim.find_assistant("01JB", before).await.expect("find"),
            None
        );
        let later = Utc::now() + chrono::Duration::seconds(5);
        assert_eq!(sim.find_assistant("01JA", later).await.expect("find"), None);
        sim.update_assistant(&id, &spec("ignored"))
            .await
            .expect("updated");
        assert_eq!(
            sim.find_assistant("01JA", before).await.expect("find"),
            Some(id.clone())
        );
        sim.delete_assistant(&id).await.expect("deleted");
        assert_eq!(
            sim.delete_assistant(&id).await,
            Err(ProviderError::NotFound { provider: VOICE })
        );
        assert_eq!(
            sim.update_assistant(&id, &spec("01JA")).await,
            Err(ProviderError::NotFound { provider: VOICE })
        );
    }

    #[tokio::test]
    async fn numbers_can_be_imported_found_and_deleted() {
        let sim = simulator(0);
        let assistant = sim.create_assistant(&spec("01JA")).await.expect("created");
        let import = NumberImport {
            number: "+33142868000".into(),
            assistant_id: assistant.clone(),
            name: "Salon".into(),
        };
        let id = sim.import_number(&import).await.expect("imported");
        assert!(sim.import_number(&import).await.is_err());
        assert_eq!(
            sim.find_number("+33142868000").await.expect("find"),
            Some(id.clone())
        );
        sim.delete_number(&id).await.expect("deleted");
        assert_eq!(sim.find_number("+33142868000").await.expect("find"), None);
        assert_eq!(
            sim.delete_number(&id).await,
            Err(ProviderError::NotFound { provider: VOICE })
        );
    }

    #[tokio::test]
    async fn calls_take_about_the_configured_latency() {
        let sim = simulator(50);
        let start = Instant::now();
        sim.find_number("+33142868000").await.expect("find");
        let elapsed = start.elapsed();
        assert!(elapsed >= Duration::from_millis(34), "{elapsed:?}");
    }
}
