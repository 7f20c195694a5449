//! Simulated calls, reported the way the real providers report them: Vapi server messages
//! (`status-update`, `end-of-call-report`) signed with the Vapi webhook secret, and Twilio status
//! callbacks signed with the auth token over the public URL, POSTed over HTTP to our own webhook
//! endpoints. So a simulated call goes through exactly the path a real one takes: verification,
//! the inbox, deduplication, the processing job, calls, and our outbound events. Signatures are
//! timestamped by an injected clock, because our API checks them against its own.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use zencall_core::clock::{Clock, SystemClock};

use zencall_core::domain::booking_tools::{BOOK_APPOINTMENT, CHECK_AVAILABILITY};

use crate::ProviderError;
use crate::signatures;

/// Who placed the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// A customer called the assistant's number.
    Inbound,
    /// The assistant called a customer.
    Outbound,
}

/// How the call goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallOutcome {
    /// Answered, then a conversation of `talk_secs` seconds.
    Answered {
        /// Length of the conversation.
        talk_secs: u32,
    },
    /// The line was busy.
    Busy,
    /// Nobody answered.
    NoAnswer,
    /// Voicemail answered; the assistant hung up after its greeting.
    Voicemail,
    /// The call could not be connected.
    Failed,
    /// Answered, then after `talk_secs` seconds the person asked not to be called again.
    Refused {
        /// Length of the conversation.
        talk_secs: u32,
    },
}

/// One simulated call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimulatedCall {
    /// The call's id at the voice platform (a lowercase UUID, as Vapi's).
    pub vapi_call_id: String,
    /// The call's SID at the telephony provider (`CA` + 32 hex digits).
    pub twilio_call_sid: String,
    /// The assistant's id at the voice platform.
    pub vapi_assistant_id: String,
    /// The assistant's number, E.164.
    pub our_number: String,
    /// The other party's number, E.164.
    pub customer_number: String,
    /// Who called.
    pub direction: Direction,
    /// How it goes.
    pub outcome: CallOutcome,
    /// When it started ringing.
    pub ringing_at: DateTime<Utc>,
    /// Our attempt id (`att_...`) of an outbound call we placed, carried in the call's metadata.
    pub attempt_id: Option<String>,
    /// What is said if the call is answered; `None`: the default appointment conversation.
    pub script: Option<Script>,
    /// The booking the caller makes through the assistant's tools while the call is on.
    pub booking: Option<SimulatedBooking>,
}

/// A booking made during a simulated call, as the assistant would make it: it asks
/// `check_availability` for the next free slots, then books the first with `book_appointment`
/// (the caller's number is the call's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimulatedBooking {
    /// The name the caller gives.
    pub caller_name: String,
    /// The service asked for, when the business lists some.
    pub service: Option<String>,
}

/// What the caller of an answered simulated call wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// A new appointment, happily taken.
    Booking,
    /// An unhappy customer whose order is late.
    Complaint,
    /// Moving an appointment.
    Reschedule,
    /// A quote for a job.
    QuoteRequest,
    /// A question about opening hours.
    Information,
}

impl Scenario {
    /// Every scenario, as the API names them.
    pub const ALL: [(Scenario, &'static str); 5] = [
        (Scenario::Booking, "booking"),
        (Scenario::Complaint, "complaint"),
        (Scenario::Reschedule, "reschedule"),
        (Scenario::QuoteRequest, "quote_request"),
        (Scenario::Information, "information"),
    ];

    /// Parses an API name.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.iter().find(|(_, n)| *n == text).map(|(s, _)| *s)
    }
}

/// A scenario in a language: what an answered simulated call says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Script {
    /// What the caller wants.
    pub scenario: Scenario,
    /// Spoken in English (otherwise French).
    pub english: bool,
}

impl Script {
    /// The transcript and the platform's summary.
    fn lines(self) -> (&'static str, &'static str) {
        match (self.scenario, self.english) {
            (Scenario::Booking, false) => (TRANSCRIPT, SUMMARY),
            (Scenario::Booking, true) => (
                "AI: Hello, thanks for calling, how can I help?\n\
                 User: Hi! I'd like to book an appointment for Thursday morning, please.\n\
                 AI: Thursday at 11:30, does that work for you?\n\
                 User: Perfect, that's great, thank you so much!\n\
                 AI: You're booked in. Have a lovely day!",
                "The caller booked an appointment on Thursday at 11:30.",
            ),
            (Scenario::Complaint, false) => (
                "AI: Bonjour, vous êtes bien chez nous, que puis-je pour vous ?\n\
                 User: Bonjour. J'ai commandé il y a trois semaines et mon colis n'est toujours pas arrivé. \
                 C'est inadmissible, j'ai déjà appelé deux fois.\n\
                 AI: Je suis désolée pour ce retard. Je transmets votre réclamation au responsable.\n\
                 User: Je suis vraiment déçu, j'attends une réponse rapide.\n\
                 AI: C'est noté, nous revenons vers vous aujourd'hui.",
                "Le client se plaint d'un colis en retard de trois semaines.",
            ),
            (Scenario::Complaint, true) => (
                "AI: Hello, thanks for calling, how can I help?\n\
                 User: Hi. I ordered three weeks ago and my parcel still hasn't arrived. \
                 This is unacceptable, I've already called twice.\n\
                 AI: I'm sorry about the delay. I'll pass your complaint on to the manager.\n\
                 User: I'm really disappointed. I expect an answer today.\n\
                 AI: Noted, we'll get back to you today.",
                "The caller complains that a parcel is three weeks late.",
            ),
            (Scenario::Reschedule, false) => (
                "AI: Bonjour, vous êtes bien chez nous, que puis-je pour vous ?\n\
                 User: Bonjour, je voudrais décaler mon rendez-vous de mardi, je ne pourrai pas venir.\n\
                 AI: Bien sûr. Jeudi à 15 h, cela vous irait ?\n\
                 User: Oui, ça me va, merci.\n\
                 AI: C'est noté pour jeudi à 15 h. Bonne journée !",
                "Le client a déplacé son rendez-vous de mardi à jeudi 15 h.",
            ),
            (Scenario::Reschedule, true) => (
                "AI: Hello, thanks for calling, how can I help?\n\
                 User: Hi, I need to move my appointment on Tuesday, I can't make it.\n\
                 AI: Of course. Would Thursday at 3 pm suit you?\n\
                 User: Yes, that works, thanks.\n\
                 AI: All set for Thursday at 3 pm. Bye!",
                "The caller moved an appointment from Tuesday to Thursday 3 pm.",
            ),
            (Scenario::QuoteRequest, false) => (
                "AI: Bonjour, que puis-je pour vous ?\n\
                 User: Bonjour, je voudrais un devis pour remplacer mon chauffe-eau, il a quinze ans.\n\
                 AI: Très bien. Quelle est la capacité du ballon ?\n\
                 User: Deux cents litres, je crois.\n\
                 AI: C'est noté, le devis vous sera envoyé sous 48 heures.",
                "Le client demande un devis pour remplacer un chauffe-eau de 200 litres.",
            ),
            (Scenario::QuoteRequest, true) => (
                "AI: Hello, how can I help?\n\
                 User: Hi, could I get a quote to replace my boiler? It's fifteen years old.\n\
                 AI: Certainly. Do you know the model?\n\
                 User: Not off-hand, sorry.\n\
                 AI: No problem, an engineer will send you a quote within 48 hours.",
                "The caller asked for a quote to replace a boiler.",
            ),
            (Scenario::Information, false) => (
                "AI: Bonjour, que puis-je pour vous ?\n\
                 User: Bonjour, je voulais savoir quels sont vos horaires d'ouverture samedi.\n\
                 AI: Nous sommes ouverts de 9 h à 18 h le samedi.\n\
                 User: D'accord, merci. Au revoir.",
                "Le client a demandé les horaires du samedi.",
            ),
            (Scenario::Information, true) => (
                "AI: Hello, how can I help?\n\
                 User: Hi, I was wondering what your opening hours are on Saturday.\n\
                 AI: We're open from 9 am to 6 pm on Saturdays.\n\
                 User: Okay, thanks. Bye.",
                "The caller asked about Saturday opening hours.",
            ),
        }
    }
}

/// One message of a call's report: to which of our endpoints, and its body.
#[derive(Debug, Clone, PartialEq)]
pub enum Report {
    /// A Vapi server message (JSON).
    Vapi(Value),
    /// A Twilio status callback (form parameters).
    Twilio(Vec<(String, String)>),
    /// The assistant's tool calls of a booking: a `tool-calls` message asking
    /// `check_availability`, then, once our webhook has answered, one booking the first slot
    /// it offered.
    Booking(BookingStep),
}

/// The tool calls of a [`SimulatedBooking`], as Vapi sends them.
#[derive(Debug, Clone, PartialEq)]
pub struct BookingStep {
    /// The fields every message of the call carries: `call`, `phoneNumber`, `customer`.
    base: Value,
    /// The call's id, from which the tool call ids are made.
    call_id: String,
    booking: SimulatedBooking,
}

impl BookingStep {
    fn message(&self, suffix: &str, name: &str, arguments: Value) -> Value {
        let mut message = self.base.clone();
        message["type"] = json!("tool-calls");
        message["toolCallList"] = json!([{
            "id": format!("toolcall-{}-{suffix}", self.call_id),
            "type": "function",
            "function": {"name": name, "arguments": arguments},
        }]);
        json!({ "message": message })
    }

    /// The `check_availability` call: the next free slots.
    pub fn check_availability(&self) -> Value {
        self.message("check", CHECK_AVAILABILITY, json!({}))
    }

    /// The `book_appointment` call of the slot starting at `start` (local, as offered).
    pub fn book_appointment(&self, start: &str) -> Value {
        let mut arguments = json!({"start": start, "caller_name": self.booking.caller_name});
        if let Some(service) = &self.booking.service {
            arguments["service"] = json!(service);
        }
        self.message("book", BOOK_APPOINTMENT, arguments)
    }
}

/// The local start of the first slot a `check_availability` answer offers.
fn first_offered(answer: &Value) -> Option<String> {
    answer["results"][0]["metadata"]["slots"][0]
        .as_str()
        .map(str::to_string)
}

/// Where the seconds of the script fall: ringing lasts this long before an answer.
const RING_SECS: i64 = 6;

/// How long a voicemail's greeting plays before the assistant hangs up.
const VOICEMAIL_SECS: i64 = 12;

/// What was said on an answered call and what the platform made of it.
struct Conversation {
    /// When the call was answered.
    started: DateTime<Utc>,
    /// When it ended.
    ended: DateTime<Utc>,
    /// The transcript, one `AI:` or `User:` line per turn.
    transcript: &'static str,
    /// The platform's analysis (`summary`, `structuredData`).
    analysis: Value,
}

fn at(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl SimulatedCall {
    fn vapi_call(&self) -> Value {
        let kind = match self.direction {
            Direction::Inbound => "inboundPhoneCall",
            Direction::Outbound => "outboundPhoneCall",
        };
        let mut call = json!({
            "id": self.vapi_call_id,
            "assistantId": self.vapi_assistant_id,
            "type": kind,
            "customer": {"number": self.customer_number},
            "phoneCallProviderId": self.twilio_call_sid,
        });
        if let Some(attempt_id) = &self.attempt_id {
            call["metadata"] = json!({ "zencall_attempt_id": attempt_id });
        }
        call
    }

    fn status_update(&self, status: &str, ended_reason: Option<&str>) -> Report {
        let mut message = json!({
            "type": "status-update",
            "status": status,
            "call": self.vapi_call(),
            "phoneNumber": {"number": self.our_number},
        });
        if let Some(reason) = ended_reason {
            message["endedReason"] = json!(reason);
        }
        Report::Vapi(json!({ "message": message }))
    }

    fn twilio(&self, status: &str, duration_secs: Option<i64>) -> Report {
        let (from, to, direction) = match self.direction {
            Direction::Inbound => (&self.customer_number, &self.our_number, "inbound"),
            Direction::Outbound => (&self.our_number, &self.customer_number, "outbound-api"),
        };
        let mut form = vec![
            ("CallSid".to_string(), self.twilio_call_sid.clone()),
            ("CallStatus".to_string(), status.to_string()),
            ("Direction".to_string(), direction.to_string()),
            ("From".to_string(), from.clone()),
            ("To".to_string(), to.clone()),
        ];
        if let Some(d) = duration_secs {
            form.push(("CallDuration".to_string(), d.to_string()));
        }
        Report::Twilio(form)
    }

    /// Every message the providers send about this call, in the order they send them.
    pub fn script(&self) -> Vec<Report> {
        let ringing = [
            self.status_update("ringing", None),
            self.twilio("ringing", None),
        ];
        let answered = [
            self.status_update("in-progress", None),
            self.twilio("in-progress", None),
        ];
        match self.outcome {
            CallOutcome::Answered { talk_secs } => {
                let (transcript, summary) = match (self.script, self.direction) {
                    (Some(script), _) => script.lines(),
                    (None, Direction::Inbound) => (TRANSCRIPT, SUMMARY),
                    (None, Direction::Outbound) => (OUTBOUND_TRANSCRIPT, OUTBOUND_SUMMARY),
                };
                let talk = self.conversation(
                    talk_secs,
                    transcript,
                    json!({"summary": summary, "structuredData": {"doNotCall": false}}),
                );
                let mut reports = Vec::from(ringing);
                reports.extend(answered);
                if let Some(booking) = &self.booking {
                    reports.push(Report::Booking(BookingStep {
                        base: json!({
                            "call": self.vapi_call(),
                            "phoneNumber": {"number": self.our_number},
                            "customer": {"number": self.customer_number},
                        }),
                        call_id: self.vapi_call_id.clone(),
                        booking: booking.clone(),
                    }));
                }
                reports.push(self.end_of_call_report("customer-ended-call", Some(talk)));
                reports.push(self.twilio("completed", Some(i64::from(talk_secs))));
                reports
            }
            CallOutcome::Refused { talk_secs } => {
                let talk = self.conversation(
                    talk_secs,
                    REFUSAL_TRANSCRIPT,
                    json!({"summary": REFUSAL_SUMMARY, "structuredData": {"doNotCall": true}}),
                );
                let mut reports = Vec::from(ringing);
                reports.extend(answered);
                reports.push(self.end_of_call_report("customer-ended-call", Some(talk)));
                reports.push(self.twilio("completed", Some(i64::from(talk_secs))));
                reports
            }
            CallOutcome::Voicemail => {
                let started = self.ringing_at + chrono::Duration::seconds(RING_SECS);
                let talk = Conversation {
                    started,
                    ended: started + chrono::Duration::seconds(VOICEMAIL_SECS),
                    transcript: VOICEMAIL_GREETING,
                    analysis: json!({"summary": VOICEMAIL_SUMMARY}),
                };
                let mut reports = Vec::from(ringing);
                reports.extend(answered);
                reports.push(self.end_of_call_report("voicemail", Some(talk)));
                reports.push(self.twilio("completed", Some(VOICEMAIL_SECS)));
                reports
            }
            CallOutcome::Busy => {
                let mut reports = Vec::from(ringing);
                reports.push(self.end_of_call_report("customer-busy", None));
                reports.push(self.twilio("busy", None));
                reports
            }
            CallOutcome::NoAnswer => {
                let mut reports = Vec::from(ringing);
                reports.push(self.end_of_call_report("customer-did-not-answer", None));
                reports.push(self.twilio("no-answer", None));
                reports
            }
            // The carrier refused the call: nothing rang.
            CallOutcome::Failed => vec![
                self.end_of_call_report("twilio-failed-to-connect-call", None),
                self.twilio("failed", None),
            ],
        }
    }

    /// A conversation of `talk_secs` seconds, once ringing stops.
    fn conversation(
        &self,
        talk_secs: u32,
        transcript: &'static str,
        analysis: Value,
    ) -> Conversation {
        let started = self.ringing_at + chrono::Duration::seconds(RING_SECS);
        Conversation {
            started,
            ended: started + chrono::Duration::seconds(i64::from(talk_secs)),
            transcript,
            analysis,
        }
    }

    fn end_of_call_report(&self, reason: &str, talk: Option<Conversation>) -> Report {
        let mut message = json!({
            "type": "end-of-call-report",
            "endedReason": reason,
            "call": self.vapi_call(),
            "phoneNumber": {"number": self.our_number},
        });
        if let Some(talk) = talk {
            let minutes = (talk.ended - talk.started).num_seconds() as f64 / 60.0;
            message["startedAt"] = json!(at(talk.started));
            message["endedAt"] = json!(at(talk.ended));
            // Vapi's all-in price is around 0.10 USD a minute.
            message["cost"] = json!((minutes * 0.10 * 10_000.0).round() / 10_000.0);
            message["artifact"] = json!({
                "transcript": talk.transcript,
                "recordingUrl": format!("https://storage.vapi.ai/{}-mono.wav", self.vapi_call_id),
            });
            message["analysis"] = talk.analysis;
        }
        Report::Vapi(json!({ "message": message }))
    }
}

/// What the simulated customer and assistant say when the customer calls.
const TRANSCRIPT: &str = "AI: Bonjour, vous êtes bien chez nous, que puis-je pour vous ?\n\
User: Bonjour, je voudrais prendre rendez-vous jeudi en fin de matinée.\n\
AI: Jeudi à 11 h 30, cela vous convient ?\n\
User: Parfait, merci beaucoup.\n\
AI: C'est noté. Bonne journée !";

/// The platform's summary of [`TRANSCRIPT`].
const SUMMARY: &str = "Le client a pris rendez-vous jeudi à 11 h 30.";

/// What the simulated assistant and customer say when the assistant calls.
const OUTBOUND_TRANSCRIPT: &str = "AI: Bonjour, je suis l'assistante du salon. Je vous appelle pour \
convenir de votre prochain rendez-vous, vous avez un instant ?\n\
User: Oui, bien sûr.\n\
AI: Jeudi à 11 h 30, cela vous convient ?\n\
User: Parfait, merci beaucoup.\n\
AI: C'est noté. Bonne journée !";

/// The platform's summary of [`OUTBOUND_TRANSCRIPT`].
const OUTBOUND_SUMMARY: &str = "Le client a accepté un rendez-vous jeudi à 11 h 30.";

/// What is said when the person called asks not to be called again.
const REFUSAL_TRANSCRIPT: &str = "AI: Bonjour, je suis l'assistante du salon. Je vous appelle pour \
convenir de votre prochain rendez-vous, vous avez un instant ?\n\
User: Non merci, ça ne m'intéresse pas. Ne m'appelez plus, s'il vous plaît.\n\
AI: Entendu, nous ne vous appellerons plus. Je vous prie de nous excuser pour le dérangement. \
Bonne journée.";

/// The platform's summary of [`REFUSAL_TRANSCRIPT`].
const REFUSAL_SUMMARY: &str =
    "La personne ne souhaite plus être appelée ; l'assistante a pris note de son refus.";

/// All a voicemail call hears: the voicemail's greeting.
const VOICEMAIL_GREETING: &str = "User: Bonjour, vous êtes bien sur la messagerie de Camille. \
Laissez-moi un message après le bip.";

/// The platform's summary of a call that reached voicemail.
const VOICEMAIL_SUMMARY: &str = "Messagerie vocale : aucun échange avec la personne appelée.";

/// Sends the reports of simulated calls to our webhook endpoints, signed.
#[derive(Debug, Clone)]
pub struct CallReporter {
    client: reqwest::Client,
    /// Where our API listens (`http://127.0.0.1:8080`).
    target: String,
    /// `server.public_url`: Twilio signs the URL as the public sees it.
    public_url: String,
    vapi_secret: SecretString,
    twilio_token: SecretString,
    /// Timestamps the Vapi signatures: our API checks them against its own clock.
    clock: Arc<dyn Clock>,
}

/// Deliveries of one report tried before giving up, as providers retry.
const TRIES: u32 = 3;

impl CallReporter {
    /// Where a URL of our public API (`server.public_url` + path) is reached from here: the
    /// same path at the address the API listens on. Other URLs are left as they are.
    pub fn local_url(&self, public: &str) -> String {
        let base = self.public_url.trim_end_matches('/');
        match public.strip_prefix(base) {
            Some(path) if path.is_empty() || path.starts_with('/') => {
                format!("{}{path}", self.target.trim_end_matches('/'))
            }
            _ => public.to_string(),
        }
    }

    /// A reporter posting to the API at `target`, signing with the secrets our webhooks verify.
    pub fn new(
        target: &str,
        public_url: &str,
        vapi_secret: SecretString,
        twilio_token: SecretString,
    ) -> Result<Self, ProviderError> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .no_proxy()
            .build()
            .map_err(|e| ProviderError::Permanent {
                provider: "simulator",
                message: format!("cannot build the HTTP client: {}", e.without_url()),
            })?;
        Ok(Self {
            client,
            target: target.trim_end_matches('/').to_string(),
            public_url: public_url.trim_end_matches('/').to_string(),
            vapi_secret,
            twilio_token,
            clock: Arc::new(SystemClock),
        })
    }

    /// Timestamps signatures with `clock` rather than the system's.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Sends every report of `call`, `pace` apart.
    pub async fn play(&self, call: &SimulatedCall, pace: Duration) -> Result<(), ProviderError> {
        for report in call.script() {
            self.send(&report).await?;
            tokio::time::sleep(pace).await;
        }
        Ok(())
    }

    /// Sends one report, signed, trying again a little later if our API does not take it. A
    /// booking sends its `check_availability` call, then books the first slot offered (none
    /// offered: nothing is booked).
    pub async fn send(&self, report: &Report) -> Result<(), ProviderError> {
        let answer = self.deliver(report).await?;
        if let Report::Booking(step) = report {
            let answer: Value = serde_json::from_str(&answer).unwrap_or(Value::Null);
            match first_offered(&answer) {
                Some(start) => {
                    let book = Report::Vapi(step.book_appointment(&start));
                    let booked = self.deliver(&book).await?;
                    tracing::info!(call = %step.call_id, start, answer = %booked, "simulated caller booked");
                }
                None => {
                    tracing::info!(call = %step.call_id, answer = %answer, "no free slot offered to the simulated caller");
                }
            }
        }
        Ok(())
    }

    /// Delivers one request of `report`, trying again a little later if our API does not take
    /// it; returns the answer's body.
    async fn deliver(&self, report: &Report) -> Result<String, ProviderError> {
        let mut last = String::new();
        for n in 0..TRIES {
            if n > 0 {
                tokio::time::sleep(Duration::from_millis(200 * u64::from(n))).await;
            }
            match self.request(report).send().await {
                Ok(r) if r.status().is_success() => return Ok(r.text().await.unwrap_or_default()),
                Ok(r) => last = format!("our webhook answered {}", r.status()),
                Err(e) => last = format!("cannot reach our webhook: {}", e.without_url()),
            }
        }
        Err(ProviderError::Transient {
            provider: "simulator",
            message: last,
            retry_after: None,
        })
    }

    /// The request of a report; a booking's is its `check_availability` call.
    fn request(&self, report: &Report) -> reqwest::RequestBuilder {
        match report {
            Report::Booking(step) => self.request(&Report::Vapi(step.check_availability())),
            Report::Vapi(message) => {
                let body = message.to_string().into_bytes();
                let ts = self.clock.now().timestamp();
                let signature =
                    signatures::vapi::sign(self.vapi_secret.expose_secret().as_bytes(), ts, &body);
                self.client
                    .post(format!("{}/webhooks/vapi", self.target))
                    .header("content-type", "application/json")
                    .header("x-timestamp", ts.to_string())
                    .header("x-signature", signature)
                    .body(body)
            }
            Report::Twilio(form) => {
                let path = "/webhooks/twilio/voice-status";
                let signature = signatures::twilio::sign(
                    self.twilio_token.expose_secret().as_bytes(),
                    &format!("{}{path}", self.public_url),
                    form,
                );
                let body = serde_urlencoded_form(form);
                self.client
                    .post(format!("{}{path}", self.target))
                    .header("content-type", "application/x-www-form-urlencoded")
                    .header("x-twilio-signature", signature)
                    .body(body)
            }
        }
    }
}

/// Encodes form parameters as `application/x-www-form-urlencoded`.
fn serde_urlencoded_form(form: &[(String, String)]) -> String {
    let mut url = reqwest::Url::parse("http://form.invalid/").unwrap_or_else(|_| {
        unreachable!("a constant URL parses");
    });
    url.query_pairs_mut().extend_pairs(form);
    url.query().unwrap_or_default().to_string()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn call(outcome: CallOutcome) -> SimulatedCall {
        SimulatedCall {
            vapi_call_id: "2f1c0e4e-8a51-4c1f-9d44-0c1d2b3a4f5e".into(),
            twilio_call_sid: format!("CA{}", "0".repeat(32)),
            vapi_assistant_id: "a1".into(),
            our_number: "+33142868000".into(),
            customer_number: "+33612345678".into(),
            direction: Direction::Inbound,
            outcome,
            ringing_at: "2026-11-20T10:00:00Z".parse().unwrap(),
            attempt_id: None,
            script: None,
            booking: None,
        }
    }

    fn outbound(outcome: CallOutcome) -> SimulatedCall {
        SimulatedCall {
            direction: Direction::Outbound,
            attempt_id: Some("att_01JATTEMPT".into()),
            script: None,
            ..call(outcome)
        }
    }

    /// The Vapi message of each report, in order (Twilio reports left out).
    fn vapi_messages(script: &[Report]) -> Vec<&Value> {
        script
            .iter()
            .filter_map(|r| match r {
                Report::Vapi(v) => Some(&v["message"]),
                _ => None,
            })
            .collect()
    }

    /// The `CallStatus` of each Twilio report, in order.
    fn twilio_statuses(script: &[Report]) -> Vec<&str> {
        script
            .iter()
            .filter_map(|r| match r {
                Report::Twilio(form) => form
                    .iter()
                    .find(|(k, _)| k == "CallStatus")
                    .map(|(_, v)| v.as_str()),
                _ => None,
            })
            .collect()
    }

    fn end_of_call_report(script: &[Report]) -> &Value {
        vapi_messages(script)
            .into_iter()
            .find(|m| m["type"] == "end-of-call-report")
            .unwrap()
    }

    #[test]
    fn an_answered_call_rings_talks_and_ends_with_its_report() {
        let script = call(CallOutcome::Answered { talk_secs: 95 }).script();
        assert_eq!(script.len(), 6);
        let Report::Vapi(report) = &script[4] else {
            panic!("{script:?}")
        };
        let m = &report["message"];
        assert_eq!(m["type"], "end-of-call-report");
        assert_eq!(m["endedReason"], "customer-ended-call");
        assert_eq!(m["startedAt"], "2026-11-20T10:00:06.000Z");
        assert_eq!(m["endedAt"], "2026-11-20T10:01:41.000Z");
        assert_eq!(m["call"]["type"], "inboundPhoneCall");
        assert!(m["call"].get("metadata").is_none());
        assert!(
            m["artifact"]["transcript"]
                .as_str()
                .unwrap()
                .contains("rendez-vous")
        );
        assert_eq!(m["analysis"]["structuredData"]["doNotCall"], false);
        let Report::Twilio(form) = &script[5] else {
            panic!("{script:?}")
        };
        assert!(form.contains(&("CallStatus".into(), "completed".into())));
        assert!(form.contains(&("CallDuration".into(), "95".into())));
        assert!(form.contains(&("To".into(), "+33142868000".into())));
    }

    #[test]
    fn a_busy_line_ends_without_a_conversation() {
        let script = call(CallOutcome::Busy).script();
        let Report::Vapi(report) = &script[2] else {
            panic!("{script:?}")
        };
        assert_eq!(report["message"]["endedReason"], "customer-busy");
        assert!(report["message"].get("artifact").is_none());
        assert_eq!(twilio_statuses(&script), ["ringing", "busy"]);
    }

    #[test]
    fn an_outbound_call_carries_our_attempt_id_and_comes_from_our_number() {
        let script = outbound(CallOutcome::Answered { talk_secs: 30 }).script();
        for m in vapi_messages(&script) {
            assert_eq!(m["call"]["type"], "outboundPhoneCall");
            assert_eq!(
                m["call"]["metadata"]["zencall_attempt_id"],
                "att_01JATTEMPT"
            );
            assert_eq!(m["call"]["customer"]["number"], "+33612345678");
        }
        let Report::Twilio(form) = &script[1] else {
            panic!("{script:?}")
        };
        assert!(form.contains(&("Direction".into(), "outbound-api".into())));
        assert!(form.contains(&("From".into(), "+33142868000".into())));
        assert!(form.contains(&("To".into(), "+33612345678".into())));
        let transcript = end_of_call_report(&script)["artifact"]["transcript"]
            .as_str()
            .unwrap();
        assert!(transcript.starts_with("AI: "), "{transcript}");
    }

    #[test]
    fn a_voicemail_is_answered_briefly_and_hears_only_the_greeting() {
        let script = outbound(CallOutcome::Voicemail).script();
        let statuses: Vec<&Value> = vapi_messages(&script)
            .iter()
            .map(|m| &m["status"])
            .collect();
        assert_eq!(statuses[..2], [&json!("ringing"), &json!("in-progress")]);
        let m = end_of_call_report(&script);
        assert_eq!(m["endedReason"], "voicemail");
        assert_eq!(m["startedAt"], "2026-11-20T10:00:06.000Z");
        assert_eq!(m["endedAt"], "2026-11-20T10:00:18.000Z");
        let transcript = m["artifact"]["transcript"].as_str().unwrap();
        assert_eq!(transcript.lines().count(), 1, "{transcript}");
        assert!(transcript.contains("messagerie"), "{transcript}");
        assert!(!transcript.contains("AI:"), "{transcript}");
        assert!(m["analysis"].get("structuredData").is_none());
        assert_eq!(
            twilio_statuses(&script),
            ["ringing", "in-progress", "completed"]
        );
        let Some(Report::Twilio(form)) = script.last() else {
            panic!("{script:?}")
        };
        assert!(form.contains(&("CallDuration".into(), "12".into())));
    }

    #[test]
    fn a_failed_call_never_rings_and_ends_failed() {
        let script = outbound(CallOutcome::Failed).script();
        assert_eq!(script.len(), 2);
        let m = end_of_call_report(&script);
        assert_eq!(m["endedReason"], "twilio-failed-to-connect-call");
        assert!(m.get("startedAt").is_none());
        assert!(m.get("artifact").is_none());
        assert_eq!(twilio_statuses(&script), ["failed"]);
    }

    #[test]
    fn a_refusal_is_answered_then_asks_in_french_not_to_be_called_again() {
        let script = outbound(CallOutcome::Refused { talk_secs: 25 }).script();
        assert_eq!(script.len(), 6);
        let m = end_of_call_report(&script);
        assert_eq!(m["endedReason"], "customer-ended-call");
        assert_eq!(m["startedAt"], "2026-11-20T10:00:06.000Z");
        assert_eq!(m["endedAt"], "2026-11-20T10:00:31.000Z");
        let transcript = m["artifact"]["transcript"].as_str().unwrap();
        assert!(
            transcript.contains("User: Non merci") && transcript.contains("Ne m'appelez plus"),
            "{transcript}"
        );
        assert_eq!(m["analysis"]["structuredData"]["doNotCall"], true);
        assert_eq!(
            twilio_statuses(&script),
            ["ringing", "in-progress", "completed"]
        );
    }

    #[test]
    fn a_booking_call_asks_for_free_slots_then_books_the_first_offered() {
        let booking = SimulatedCall {
            booking: Some(SimulatedBooking {
                caller_name: "Camille Martin".into(),
                service: Some("coupe".into()),
            }),
            ..call(CallOutcome::Answered { talk_secs: 95 })
        };
        let script = booking.script();
        assert_eq!(script.len(), 7);
        let Report::Booking(step) = &script[4] else {
            panic!("{script:?}")
        };
        assert_eq!(end_of_call_report(&script)["type"], "end-of-call-report");
        let check = &step.check_availability()["message"];
        assert_eq!(check["type"], "tool-calls");
        assert_eq!(check["call"]["id"], booking.vapi_call_id);
        assert_eq!(check["call"]["assistantId"], "a1");
        assert_eq!(check["customer"]["number"], "+33612345678");
        assert_eq!(
            check["toolCallList"][0]["function"]["name"],
            CHECK_AVAILABILITY
        );
        let answer = json!({"results": [{"toolCallId": "x", "result": "...",
            "metadata": {"slots": ["2026-12-08T09:00", "2026-12-08T09:15"]}}]});
        let start = first_offered(&answer).unwrap();
        let book = &step.book_appointment(&start)["message"];
        let call = &book["toolCallList"][0];
        assert_eq!(call["function"]["name"], BOOK_APPOINTMENT);
        assert_eq!(
            call["function"]["arguments"],
            json!({"start": "2026-12-08T09:00", "caller_name": "Camille Martin", "service": "coupe"})
        );
        assert_ne!(call["id"], check["toolCallList"][0]["id"]);
        assert_eq!(
            first_offered(&json!({"results": [{"error": "no hours"}]})),
            None
        );
        // Without a booking, the same call sends no tool call.
        assert!(
            !call_script_has_booking(&call_without_booking()),
            "a call without a booking uses no tool"
        );
    }

    fn call_without_booking() -> Vec<Report> {
        call(CallOutcome::Answered { talk_secs: 95 }).script()
    }

    fn call_script_has_booking(script: &[Report]) -> bool {
        script.iter().any(|r| matches!(r, Report::Booking(_)))
    }

    #[derive(Debug)]
    struct Fixed(DateTime<Utc>);

    impl Clock for Fixed {
        fn now(&self) -> DateTime<Utc> {
            self.0
        }
    }

    #[test]
    fn vapi_reports_are_signed_at_the_reporters_clock() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let now: DateTime<Utc> = "2030-01-02T03:04:05Z".parse().unwrap();
        let reporter = CallReporter::new(
            "http://127.0.0.1:9",
            "https://zencall.example",
            SecretString::from("vapi-secret"),
            SecretString::from("twilio-token"),
        )
        .unwrap()
        .with_clock(Arc::new(Fixed(now)));
        let report = &call(CallOutcome::Busy).script()[0];
        let request = reporter.request(report).build().unwrap();
        let ts = now.timestamp();
        assert_eq!(
            request.headers()["x-timestamp"].to_str().unwrap(),
            ts.to_string()
        );
        let body = request.body().and_then(|b| b.as_bytes()).unwrap();
        assert_eq!(
            request.headers()["x-signature"].to_str().unwrap(),
            signatures::vapi::sign(b"vapi-secret", ts, body)
        );
    }

    #[test]
    fn forms_are_url_encoded() {
        let form = vec![("To".to_string(), "+33 1".to_string())];
        assert_eq!(serde_urlencoded_form(&form), "To=%2B33+1");
    }
}
