//! The simulator: an in-memory stand-in for both Vapi and Twilio, used by `zencall up` when no
//! credentials are configured and by tests. It hands out ids shaped like the real ones (Vapi's
//! lowercase UUIDs, Twilio's `PN` + 32 hex digits), offers numbers that are valid for their
//! country, never offers a number twice once bought, and waits about `latency_ms` (± 30 %) per
//! call so that the rest of the platform sees realistic timings. Outbound calls it places turn out
//! as a configured mix of outcomes (answered, no answer, busy, voicemail, failed, refused), drawn
//! from a seedable generator, and are reported through our signed webhooks like any other call.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use tokio::task::JoinHandle;
use zencall_core::clock::{Clock, SystemClock};
use zencall_core::config::SimulatorSettings;
use zencall_core::domain::phone::PhoneNumber;
use zencall_core::domain::sector::Sector;

use crate::simulated_calls::{
    CallOutcome, CallReporter, Direction, Scenario, Script, SimulatedBooking, SimulatedCall,
};
use crate::telephony::{AvailableNumber, NumberSearch, OwnedNumber, Sms, SmsFailure, Telephony};
use crate::voice::{AssistantSpec, NumberImport, OutboundCall, VoicePlatform};
use crate::{ProviderError, http, simulated_onboarding};

/// Provider name of the simulated voice platform.
const VOICE: &str = "vapi-simulator";

/// How long a simulated onboarding waits for its new assistant to become active.
const ONBOARDING_TIMEOUT: Duration = Duration::from_secs(120);

/// The scripted onboarding of a `sector` business through the MCP server at `url` (ending in
/// `/mcp`) with `key`: the assistant created and its number, or why it stopped.
async fn onboard(url: &str, key: &str, sector: Sector) -> Result<(String, String), String> {
    let base = url.strip_suffix("/mcp").unwrap_or(url);
    let client = simulated_onboarding::connect(base, key)
        .await
        .map_err(|e| e.to_string())?;
    let script = simulated_onboarding::OnboardingScript::for_sector(sector);
    let report = simulated_onboarding::run(&client, &script, ONBOARDING_TIMEOUT).await;
    if let Err(e) = client.cancel().await {
        tracing::debug!(error = %e, "closing a simulated onboarding's MCP session");
    }
    let report = report.map_err(|e| e.to_string())?;
    Ok((report.assistant_id, report.phone_number))
}
/// Provider name of the simulated telephony.
const TELEPHONY: &str = "twilio-simulator";
/// How many numbers a search offers.
const OFFERED: usize = 5;
/// Random draws tried per number before giving up on an area code.
const DRAWS_PER_NUMBER: usize = 40;
/// The name a simulated caller books under.
pub const SIMULATED_CALLER: &str = "Camille Martin";
/// How long an answered outbound call talks, in seconds.
const TALK_SECS: std::ops::RangeInclusive<u32> = 20..=240;

/// Simulated Vapi and Twilio, sharing one in-memory state; clones share it too.
#[derive(Debug, Clone)]
pub struct Simulator {
    latency: Duration,
    state: Arc<Mutex<State>>,
    reporter: Arc<Mutex<Option<CallReporter>>>,
    /// Stamps creations and calls; also given to the reporter, whose signatures our API checks.
    clock: Arc<dyn Clock>,
    /// How placed calls turn out.
    mix: OutcomeMix,
    /// Draws outcomes and talk times; seeded when the settings say so.
    rng: Arc<Mutex<StdRng>>,
    /// The calls being reported in the background, to wait for them.
    playing: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

/// The weights of the outcomes of placed calls, in percent.
#[derive(Debug, Clone, Copy)]
struct OutcomeMix {
    answered: u64,
    no_answer: u64,
    busy: u64,
    voicemail: u64,
    failed: u64,
    refused: u64,
}

impl OutcomeMix {
    fn from_settings(settings: &SimulatorSettings) -> Self {
        Self {
            answered: settings.answered_percent.into(),
            no_answer: settings.no_answer_percent.into(),
            busy: settings.busy_percent.into(),
            voicemail: settings.voicemail_percent.into(),
            failed: settings.failed_percent.into(),
            refused: settings.refused_percent.into(),
        }
    }

    /// Draws one outcome, each in proportion to its weight; with no weight at all, calls are
    /// answered.
    fn draw(&self, rng: &mut StdRng) -> CallOutcome {
        let weights = [
            self.answered,
            self.no_answer,
            self.busy,
            self.voicemail,
            self.failed,
            self.refused,
        ];
        let total: u64 = weights.iter().sum();
        let mut roll = if total == 0 {
            0
        } else {
            rng.random_range(0..total)
        };
        let drawn = weights
            .iter()
            .position(|&weight| {
                let hit = roll < weight;
                roll = roll.saturating_sub(weight);
                hit
            })
            .unwrap_or(0);
        match drawn {
            1 => CallOutcome::NoAnswer,
            2 => CallOutcome::Busy,
            3 => CallOutcome::Voicemail,
            4 => CallOutcome::Failed,
            5 => CallOutcome::Refused {
                talk_secs: rng.random_range(TALK_SECS),
            },
            _ => CallOutcome::Answered {
                talk_secs: rng.random_range(TALK_SECS),
            },
        }
    }
}

#[derive(Debug, Default)]
struct State {
    /// Assistants by platform id.
    assistants: HashMap<String, Assistant>,
    /// Imported numbers by platform id.
    imported: HashMap<String, NumberImport>,
    /// Owned numbers by SID.
    owned: HashMap<String, Owned>,
    /// Placed outbound calls by our attempt id.
    calls: HashMap<String, Placed>,
    /// Text messages sent, oldest first.
    messages: Vec<SentMessage>,
    /// Onboarding calls to configurators, oldest first.
    onboardings: Vec<SimulatedOnboarding>,
}

/// An onboarding call to a configurator: a scripted owner answers, and the configurator calls
/// its MCP tools as Vapi's model would.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimulatedOnboarding {
    /// The configurator called (the platform's assistant id).
    pub configurator_id: String,
    /// The owner's sector.
    pub sector: Sector,
    /// Until it ends, `None`; then the assistant created (`asst_...`) and its number, or why
    /// the onboarding stopped.
    pub outcome: Option<Result<(String, String), String>>,
}

#[derive(Debug)]
struct Placed {
    call_id: String,
    assistant_id: String,
    created_at: DateTime<Utc>,
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
    /// A simulator with no assistants and no numbers, waiting about `latency_ms` per call,
    /// on the system clock; placed calls turn out as the settings' mix says.
    pub fn new(settings: &SimulatorSettings) -> Self {
        let rng = if settings.seed == 0 {
            rand::make_rng::<StdRng>()
        } else {
            StdRng::seed_from_u64(settings.seed)
        };
        Self {
            latency: Duration::from_millis(settings.latency_ms),
            state: Arc::new(Mutex::new(State::default())),
            reporter: Arc::new(Mutex::new(None)),
            clock: Arc::new(SystemClock),
            mix: OutcomeMix::from_settings(settings),
            rng: Arc::new(Mutex::new(rng)),
            playing: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// Uses `clock` for creation times, for when calls ring, and for the reporter's signatures
    /// (an attached reporter is switched too). Set it before cloning: clones made earlier keep
    /// their clock.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        let mut reporter = self.reporter_slot();
        if let Some(attached) = reporter.take() {
            *reporter = Some(attached.with_clock(clock.clone()));
        }
        drop(reporter);
        self.clock = clock;
        self
    }

    /// Makes simulated calls report to our webhooks through `reporter` (clones share it), which
    /// then signs with the simulator's clock.
    pub fn report_to(&self, reporter: CallReporter) {
        *self.reporter_slot() = Some(reporter.with_clock(self.clock.clone()));
    }

    /// Waits until every call simulated or placed so far has been reported (or its reports given
    /// up on), so tests need not sleep.
    pub async fn drain_reports(&self) {
        loop {
            let playing = std::mem::take(
                &mut *self
                    .playing
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()),
            );
            if playing.is_empty() {
                return;
            }
            for handle in playing {
                if let Err(e) = handle.await {
                    tracing::warn!(error = %e, "reporting a simulated call stopped");
                }
            }
        }
    }

    fn reporter_slot(&self) -> MutexGuard<'_, Option<CallReporter>> {
        // Replacing the reporter is a single assignment: a panic cannot leave it half-written.
        self.reporter
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The attached reporter; simulated calls have no one to report to without it.
    fn reporter(&self) -> Result<CallReporter, ProviderError> {
        self.reporter_slot()
            .clone()
            .ok_or_else(|| ProviderError::Permanent {
                provider: VOICE,
                message: "simulated calls need the API in the same process".into(),
            })
    }

    /// Reports `call` in the background, its messages about the simulated latency apart.
    fn play(&self, reporter: CallReporter, call: SimulatedCall) {
        let pace = self.latency;
        let handle = tokio::spawn(async move {
            if let Err(e) = reporter.play(&call, pace).await {
                tracing::warn!(call = %call.vapi_call_id, error = %e, "a simulated call could not be reported");
            }
        });
        let mut playing = self
            .playing
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        playing.retain(|h| !h.is_finished());
        playing.push(handle);
    }

    /// Plays an onboarding call to the configurator `configurator_id` (an assistant here with
    /// an MCP tool server): in the background, the scripted owner of a `sector` business
    /// answers, and the configurator calls the tool server's tools with its key, as Vapi does
    /// during a call, until the new assistant is active. [`Simulator::onboardings`] shows how
    /// it ended.
    pub fn simulate_onboarding(
        &self,
        configurator_id: &str,
        sector: Sector,
    ) -> Result<(), ProviderError> {
        let server = self
            .state()
            .assistants
            .get(configurator_id)
            .ok_or(ProviderError::NotFound { provider: VOICE })?
            .spec
            .tool_server
            .clone()
            .ok_or_else(|| ProviderError::Permanent {
                provider: VOICE,
                message: format!("assistant {configurator_id} has no MCP tool server"),
            })?;
        let url = self.reporter()?.local_url(&server.url);
        let index = {
            let mut state = self.state();
            state.onboardings.push(SimulatedOnboarding {
                configurator_id: configurator_id.to_string(),
                sector,
                outcome: None,
            });
            state.onboardings.len() - 1
        };
        let state = self.state.clone();
        let handle = tokio::spawn(async move {
            let outcome = onboard(&url, &server.api_key, sector).await;
            match &outcome {
                Ok((assistant, number)) => tracing::info!(
                    sector = sector.as_str(), %assistant, %number,
                    "simulated onboarding: the assistant is active"
                ),
                Err(e) => {
                    tracing::warn!(sector = sector.as_str(), error = %e, "simulated onboarding stopped")
                }
            }
            let mut state = state
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if let Some(onboarding) = state.onboardings.get_mut(index) {
                onboarding.outcome = Some(outcome);
            }
        });
        let mut playing = self
            .playing
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        playing.retain(|h| !h.is_finished());
        playing.push(handle);
        Ok(())
    }

    /// The onboarding calls simulated so far, oldest first.
    pub fn onboardings(&self) -> Vec<SimulatedOnboarding> {
        self.state().onboardings.clone()
    }

    /// The outcome of the next placed call.
    fn draw_outcome(&self) -> CallOutcome {
        let mut rng = self
            .rng
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        self.mix.draw(&mut rng)
    }

    /// Simulates a call between `customer_number` and the assistant whose number is
    /// `our_number`: the providers' reports of it are POSTed, signed, to our webhooks in the
    /// background, about the simulated latency apart. An answered inbound call whose caller
    /// wants an appointment (the default conversation, or the booking scenario), to an
    /// assistant given the booking tools, books the first free slot through them while it is
    /// on. Returns the call as it will be reported.
    pub fn simulate_call(
        &self,
        our_number: &str,
        customer_number: &str,
        direction: Direction,
        outcome: CallOutcome,
        script: Option<Script>,
    ) -> Result<SimulatedCall, ProviderError> {
        let reporter = self.reporter()?;
        let (vapi_assistant_id, tools) = {
            let state = self.state();
            let id = state
                .imported
                .values()
                .find(|i| i.number == our_number)
                .map(|i| i.assistant_id.clone())
                .ok_or_else(|| ProviderError::Permanent {
                    provider: VOICE,
                    message: format!("the number {our_number} is not imported"),
                })?;
            let tools = state
                .assistants
                .get(&id)
                .and_then(|a| a.spec.booking.clone());
            (id, tools)
        };
        // A caller who rings to book does book, when the assistant has the booking tools.
        let books = direction == Direction::Inbound
            && matches!(outcome, CallOutcome::Answered { .. })
            && script.is_none_or(|s| s.scenario == Scenario::Booking);
        let booking = tools.filter(|_| books).map(|tools| SimulatedBooking {
            caller_name: SIMULATED_CALLER.to_string(),
            service: tools.services.first().cloned(),
        });
        let call = SimulatedCall {
            vapi_call_id: uuid_like(),
            twilio_call_sid: sid("CA"),
            vapi_assistant_id,
            our_number: our_number.to_string(),
            customer_number: customer_number.to_string(),
            direction,
            outcome,
            ringing_at: self.clock.now(),
            attempt_id: None,
            script,
            booking,
        };
        self.play(reporter, call.clone());
        Ok(call)
    }

    /// How many assistants exist at the simulated voice platform.
    pub fn assistant_count(&self) -> usize {
        self.state().assistants.len()
    }

    /// What the simulated voice platform holds for assistant `id` (its prompt, tools and tool
    /// server), if it exists.
    pub fn assistant_spec(&self, id: &str) -> Option<AssistantSpec> {
        self.state().assistants.get(id).map(|a| a.spec.clone())
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
                created_at: self.clock.now(),
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

    async fn place_call(&self, call: &OutboundCall) -> Result<String, ProviderError> {
        self.pause().await;
        // Refuse what the real adapter refuses, before anything else.
        http::segment(VOICE, "attempt id", &call.attempt_id)?;
        let reporter = self.reporter();
        let (reporter, simulated) = {
            let mut state = self.state();
            if let Some(placed) = state.calls.get(&call.attempt_id) {
                return Ok(placed.call_id.clone());
            }
            let reporter = reporter?;
            if !state.assistants.contains_key(&call.assistant_id) {
                return Err(ProviderError::Permanent {
                    provider: VOICE,
                    message: format!(
                        "request refused (HTTP 400): no assistant {}",
                        call.assistant_id
                    ),
                });
            }
            if !state.imported.contains_key(&call.phone_number_id) {
                return Err(ProviderError::Permanent {
                    provider: VOICE,
                    message: format!(
                        "request refused (HTTP 400): no phone number {}",
                        call.phone_number_id
                    ),
                });
            }
            let now = self.clock.now();
            let simulated = SimulatedCall {
                vapi_call_id: uuid_like(),
                twilio_call_sid: sid("CA"),
                vapi_assistant_id: call.assistant_id.clone(),
                our_number: call.caller_number.clone(),
                customer_number: call.customer_number.clone(),
                direction: Direction::Outbound,
                outcome: self.draw_outcome(),
                ringing_at: now,
                attempt_id: Some(call.attempt_id.clone()),
                script: None,
                booking: None,
            };
            state.calls.insert(
                call.attempt_id.clone(),
                Placed {
                    call_id: simulated.vapi_call_id.clone(),
                    assistant_id: call.assistant_id.clone(),
                    created_at: now,
                },
            );
            (reporter, simulated)
        };
        let id = simulated.vapi_call_id.clone();
        self.play(reporter, simulated);
        Ok(id)
    }

    async fn find_call(
        &self,
        attempt_id: &str,
        assistant_id: &str,
        created_after: DateTime<Utc>,
    ) -> Result<Option<String>, ProviderError> {
        self.pause().await;
        Ok(self
            .state()
            .calls
            .get(attempt_id)
            .filter(|p| p.assistant_id == assistant_id && p.created_at >= created_after)
            .map(|p| p.call_id.clone()))
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

    async fn send_sms(&self, sms: &Sms) -> Result<String, SmsFailure> {
        self.pause().await;
        let refused = |message: String| SmsFailure {
            error: ProviderError::Permanent {
                provider: TELEPHONY,
                message,
            },
            maybe_sent: false,
        };
        let mut state = self.state();
        if !state.owned.values().any(|o| o.number == sms.from) {
            return Err(refused(format!(
                "request refused (HTTP 400): {} is not a number of this account",
                sms.from
            )));
        }
        let to = PhoneNumber::parse(&sms.to, None)
            .map_err(|e| refused(format!("request refused (HTTP 400): {} is {e}", sms.to)))?;
        if sms.body.trim().is_empty() {
            return Err(refused(
                "request refused (HTTP 400): the message is empty".into(),
            ));
        }
        let sid = sid("SM");
        state.messages.push(SentMessage {
            sid: sid.clone(),
            from: sms.from.clone(),
            to: to.to_string(),
            body: sms.body.clone(),
            sent_at: self.clock.now(),
        });
        Ok(sid)
    }
}

impl Simulator {
    /// Every text message sent so far, oldest first.
    pub fn sent_messages(&self) -> Vec<SentMessage> {
        self.state().messages.clone()
    }
}

/// A text message the simulated telephony sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentMessage {
    /// Its id (`SM...`).
    pub sid: String,
    /// Sender, E.164.
    pub from: String,
    /// Recipient, E.164.
    pub to: String,
    /// The text.
    pub body: String,
    /// When it was sent.
    pub sent_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use secrecy::SecretString;
    use serde_json::Value;
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::*;
    use crate::signatures;

    const VAPI_SECRET: &str = "vapi-secret";
    const CALLER: &str = "+33142868000";
    const CUSTOMER: &str = "+33612345678";
    const ATTEMPT: &str = "att_01JATTEMPT";

    fn settings(latency_ms: u64, seed: u64) -> SimulatorSettings {
        SimulatorSettings {
            latency_ms,
            answered_percent: 55,
            no_answer_percent: 20,
            busy_percent: 8,
            voicemail_percent: 10,
            failed_percent: 3,
            refused_percent: 4,
            seed,
        }
    }

    fn simulator(latency_ms: u64) -> Simulator {
        Simulator::new(&settings(latency_ms, 0))
    }

    #[derive(Debug)]
    struct Fixed(DateTime<Utc>);

    impl Clock for Fixed {
        fn now(&self) -> DateTime<Utc> {
            self.0
        }
    }

    fn fixed_now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2030-01-02T03:04:05Z")
            .expect("date")
            .with_timezone(&Utc)
    }

    /// Our API's webhooks, taking every report.
    async fn webhooks() -> MockServer {
        let server = MockServer::start().await;
        for route in ["/webhooks/vapi", "/webhooks/twilio/voice-status"] {
            Mock::given(method("POST"))
                .and(path(route))
                .respond_with(ResponseTemplate::new(200))
                .mount(&server)
                .await;
        }
        server
    }

    fn reporter(target: &str) -> CallReporter {
        let _ = rustls::crypto::ring::default_provider().install_default();
        CallReporter::new(
            target,
            "https://zencall.example",
            SecretString::from(VAPI_SECRET),
            SecretString::from("twilio-token"),
        )
        .expect("reporter")
    }

    /// An assistant with an imported number at `sim`, and the call it would place.
    async fn ready_to_call(sim: &Simulator) -> OutboundCall {
        let assistant = sim.create_assistant(&spec("01JA")).await.expect("created");
        let number = sim
            .import_number(&NumberImport {
                number: CALLER.into(),
                assistant_id: assistant.clone(),
                name: "Salon".into(),
            })
            .await
            .expect("imported");
        OutboundCall {
            attempt_id: ATTEMPT.into(),
            assistant_id: assistant,
            phone_number_id: number,
            caller_number: CALLER.into(),
            customer_number: CUSTOMER.into(),
            customer_name: Some("Camille Martin".into()),
            variables: serde_json::Map::new(),
        }
    }

    /// The requests our webhooks received on `route`, in order.
    async fn received(server: &MockServer, route: &str) -> Vec<wiremock::Request> {
        server
            .received_requests()
            .await
            .expect("recording")
            .into_iter()
            .filter(|r| r.url.path() == route)
            .collect()
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
            booking: None,
            tool_server: None,
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

    #[tokio::test]
    async fn a_placed_call_is_reported_once_through_the_signed_webhooks_even_if_placed_twice() {
        let server = webhooks().await;
        let sim = Simulator::new(&settings(0, 7)).with_clock(Arc::new(Fixed(fixed_now())));
        sim.report_to(reporter(&server.uri()));
        let call = ready_to_call(&sim).await;
        let id = sim.place_call(&call).await.expect("placed");
        assert_eq!(sim.place_call(&call).await, Ok(id.clone()), "same attempt");
        sim.drain_reports().await;

        let vapi = received(&server, "/webhooks/vapi").await;
        assert!(!vapi.is_empty());
        let mut ends = 0;
        for request in &vapi {
            let ts = request.headers["x-timestamp"].to_str().expect("ascii");
            assert_eq!(ts, fixed_now().timestamp().to_string());
            assert_eq!(
                request.headers["x-signature"].to_str().expect("ascii"),
                signatures::vapi::sign(
                    VAPI_SECRET.as_bytes(),
                    fixed_now().timestamp(),
                    &request.body
                )
            );
            let body: Value = request.body_json().expect("json");
            let m = &body["message"];
            assert_eq!(m["call"]["id"], id.as_str());
            assert_eq!(m["call"]["type"], "outboundPhoneCall");
            assert_eq!(m["call"]["assistantId"], call.assistant_id.as_str());
            assert_eq!(m["call"]["customer"]["number"], CUSTOMER);
            assert_eq!(m["call"]["metadata"]["zencall_attempt_id"], ATTEMPT);
            assert_eq!(m["phoneNumber"]["number"], CALLER);
            if m["type"] == "end-of-call-report" {
                ends += 1;
                if let Some(started) = m.get("startedAt") {
                    assert_eq!(started, "2030-01-02T03:04:11.000Z", "6 s after ringing");
                }
            }
        }
        assert_eq!(ends, 1, "one call reported");
        let twilio = received(&server, "/webhooks/twilio/voice-status").await;
        assert!(!twilio.is_empty());
        for request in &twilio {
            let form = String::from_utf8_lossy(&request.body);
            assert!(form.contains("Direction=outbound-api"), "{form}");
            assert!(form.contains("From=%2B33142868000"), "{form}");
        }
    }

    #[tokio::test]
    async fn placing_a_call_needs_a_reporter_a_known_assistant_and_a_known_number() {
        let sim = simulator(0);
        let call = ready_to_call(&sim).await;
        let Err(ProviderError::Permanent { message, .. }) = sim.place_call(&call).await else {
            panic!("placed without a reporter")
        };
        assert!(message.contains("same process"), "{message}");

        sim.report_to(reporter("http://127.0.0.1:1"));
        let unknown_assistant = OutboundCall {
            assistant_id: "no-such-assistant".into(),
            ..call.clone()
        };
        let Err(ProviderError::Permanent { message, .. }) =
            sim.place_call(&unknown_assistant).await
        else {
            panic!("placed for an unknown assistant")
        };
        assert!(
            message.contains("no assistant no-such-assistant"),
            "{message}"
        );
        let unknown_number = OutboundCall {
            phone_number_id: "no-such-number".into(),
            ..call.clone()
        };
        let Err(ProviderError::Permanent { message, .. }) = sim.place_call(&unknown_number).await
        else {
            panic!("placed from an unknown number")
        };
        assert!(
            message.contains("no phone number no-such-number"),
            "{message}"
        );
        let unfit = OutboundCall {
            attempt_id: "att 1".into(),
            ..call.clone()
        };
        assert!(matches!(
            sim.place_call(&unfit).await,
            Err(ProviderError::Permanent { .. })
        ));
        let long_ago = Utc::now() - chrono::Duration::days(1);
        assert_eq!(
            sim.find_call(ATTEMPT, &call.assistant_id, long_ago)
                .await
                .expect("find"),
            None,
            "nothing was placed"
        );
    }

    #[tokio::test]
    async fn a_placed_call_is_found_by_its_attempt_and_assistant_once_placed() {
        let server = webhooks().await;
        let now = fixed_now();
        let sim = Simulator::new(&settings(0, 3)).with_clock(Arc::new(Fixed(now)));
        sim.report_to(reporter(&server.uri()));
        let call = ready_to_call(&sim).await;
        let id = sim.place_call(&call).await.expect("placed");
        let before = now - chrono::Duration::minutes(1);
        assert_eq!(
            sim.find_call(ATTEMPT, &call.assistant_id, before)
                .await
                .expect("find"),
            Some(id)
        );
        assert_eq!(
            sim.find_call("att_01JOTHER", &call.assistant_id, before)
                .await
                .expect("find"),
            None
        );
        assert_eq!(
            sim.find_call(ATTEMPT, "another-assistant", before)
                .await
                .expect("find"),
            None
        );
        let after = now + chrono::Duration::seconds(1);
        assert_eq!(
            sim.find_call(ATTEMPT, &call.assistant_id, after)
                .await
                .expect("find"),
            None
        );
        sim.drain_reports().await;
    }

    #[test]
    fn a_seeded_simulator_draws_the_same_outcomes_every_time() {
        let draws = |seed| {
            let sim = Simulator::new(&settings(0, seed));
            (0..100).map(|_| sim.draw_outcome()).collect::<Vec<_>>()
        };
        assert_eq!(draws(42), draws(42));
        assert_ne!(draws(42), draws(43));
    }

    #[test]
    fn drawn_outcomes_follow_the_configured_mix() {
        let sim = Simulator::new(&settings(0, 1));
        let mut counts = [0u32; 6];
        for _ in 0..10_000 {
            let outcome = sim.draw_outcome();
            let slot = match outcome {
                CallOutcome::Answered { talk_secs } => {
                    assert!(TALK_SECS.contains(&talk_secs), "{talk_secs}");
                    0
                }
                CallOutcome::NoAnswer => 1,
                CallOutcome::Busy => 2,
                CallOutcome::Voicemail => 3,
                CallOutcome::Failed => 4,
                CallOutcome::Refused { talk_secs } => {
                    assert!(TALK_SECS.contains(&talk_secs), "{talk_secs}");
                    5
                }
            };
            counts[slot] += 1;
        }
        // Percent of 10 000 draws, give or take 2 points.
        for (count, percent) in counts.iter().zip([55u32, 20, 8, 10, 3, 4]) {
            let expected = percent * 100;
            assert!(count.abs_diff(expected) <= 200, "{counts:?}");
        }
    }

    #[test]
    fn a_mix_of_one_outcome_always_draws_it_and_an_empty_mix_answers() {
        let only_voicemail = SimulatorSettings {
            answered_percent: 0,
            no_answer_percent: 0,
            busy_percent: 0,
            voicemail_percent: 100,
            failed_percent: 0,
            refused_percent: 0,
            ..settings(0, 5)
        };
        let sim = Simulator::new(&only_voicemail);
        assert!((0..50).all(|_| sim.draw_outcome() == CallOutcome::Voicemail));
        let empty = SimulatorSettings {
            voicemail_percent: 0,
            ..only_voicemail
        };
        let sim = Simulator::new(&empty);
        assert!((0..50).all(|_| matches!(sim.draw_outcome(), CallOutcome::Answered { .. })));
    }
}
