//! A fake SMTP server for tests: it listens on a local port, speaks enough SMTP for a client
//! (greeting, EHLO/HELO, MAIL FROM, RCPT TO, DATA with dot-unstuffing, RSET, NOOP, QUIT), and
//! records each accepted message's envelope and raw content. It can be told to answer the
//! recipients with 451 (try later) or 550 (refused), to test how failures are sorted.

use std::sync::{Arc, Mutex, PoisonError};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// One message the sink accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMessage {
    /// The envelope's sender (MAIL FROM), without brackets.
    pub mail_from: String,
    /// The envelope's recipients (RCPT TO), without brackets.
    pub rcpt_to: Vec<String>,
    /// The message as sent after DATA, dot-unstuffed, CRLF line ends kept.
    pub data: Vec<u8>,
}

impl ReceivedMessage {
    /// The message as text (lossy for bytes that are not UTF-8).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.data).into_owned()
    }
}

/// How the sink answers RCPT TO.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SinkReply {
    /// 250: accepted.
    Accept,
    /// 451: a transient failure, try again later.
    TryLater,
    /// 550: the mailbox is refused for good.
    Refuse,
}

#[derive(Debug)]
struct State {
    reply: SinkReply,
    messages: Vec<ReceivedMessage>,
}

/// A running fake SMTP server; it stops when dropped.
#[derive(Debug)]
pub struct SmtpSink {
    addr: std::net::SocketAddr,
    state: Arc<Mutex<State>>,
    count: watch::Receiver<usize>,
    task: tokio::task::JoinHandle<()>,
}

impl SmtpSink {
    /// Starts a sink on a free local port, accepting every message.
    pub async fn start() -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("the SMTP sink binds a local port");
        let addr = listener
            .local_addr()
            .expect("a bound listener has an address");
        let state = Arc::new(Mutex::new(State {
            reply: SinkReply::Accept,
            messages: Vec::new(),
        }));
        let (tx, count) = watch::channel(0);
        let tx = Arc::new(tx);
        let shared = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, shared.clone(), tx.clone()));
            }
        });
        SmtpSink {
            addr,
            state,
            count,
            task,
        }
    }

    /// `smtp://127.0.0.1:PORT`, for `email.smtp_url`.
    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    /// How RCPT TO is answered from now on.
    pub fn reply_to_recipients(&self, reply: SinkReply) {
        self.lock().reply = reply;
    }

    /// The messages accepted so far.
    pub fn messages(&self) -> Vec<ReceivedMessage> {
        self.lock().messages.clone()
    }

    /// Waits until at least `n` messages were accepted, and returns them all.
    pub async fn received(&self, n: usize) -> Vec<ReceivedMessage> {
        let mut count = self.count.clone();
        // The sender lives as long as the listening task, which lives as long as the sink.
        let _ = count.wait_for(|c| *c >= n).await;
        self.messages()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One SMTP session.
async fn serve(stream: TcpStream, state: Arc<Mutex<State>>, count: Arc<watch::Sender<usize>>) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    let reply = |text: &'static str| text.as_bytes().to_vec();
    if write
        .write_all(&reply("220 sink.test ESMTP ready\r\n"))
        .await
        .is_err()
    {
        return;
    }
    let mut mail_from: Option<String> = None;
    let mut rcpt_to: Vec<String> = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        match lines.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let text = String::from_utf8_lossy(&line).trim_end().to_string();
        let verb = text
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        let answer: Vec<u8> = match verb.as_str() {
            "EHLO" => reply("250-sink.test\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 OK\r\n"),
            "HELO" => reply("250 sink.test\r\n"),
            "MAIL" => {
                mail_from = Some(path_of(&text));
                rcpt_to.clear();
                reply("250 2.1.0 OK\r\n")
            }
            "RCPT" => {
                let answer = state.lock().unwrap_or_else(PoisonError::into_inner).reply;
                match answer {
                    SinkReply::Accept => {
                        rcpt_to.push(path_of(&text));
                        reply("250 2.1.5 OK\r\n")
                    }
                    SinkReply::TryLater => reply("451 4.3.0 try again later\r\n"),
                    SinkReply::Refuse => reply("550 5.1.1 mailbox unavailable\r\n"),
                }
            }
            "DATA" => {
                if mail_from.is_none() || rcpt_to.is_empty() {
                    reply("503 5.5.1 no valid recipients\r\n")
                } else {
                    if write
                        .write_all(&reply("354 end with <CRLF>.<CRLF>\r\n"))
                        .await
                        .is_err()
                    {
                        return;
                    }
                    let Some(data) = read_data(&mut lines).await else {
                        return;
                    };
                    let message = ReceivedMessage {
                        mail_from: mail_from.take().unwrap_or_default(),
                        rcpt_to: std::mem::take(&mut rcpt_to),
                        data,
                    };
                    let n = {
                        let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
                        state.messages.push(message);
                        state.messages.len()
                    };
                    count.send_replace(n);
                    reply("250 2.0.0 queued\r\n")
                }
            }
            "RSET" => {
                mail_from = None;
                rcpt_to.clear();
                reply("250 2.0.0 OK\r\n")
            }
            "NOOP" => reply("250 2.0.0 OK\r\n"),
            "QUIT" => {
                let _ = write.write_all(&reply("221 2.0.0 bye\r\n")).await;
                return;
            }
            _ => reply("502 5.5.2 command not implemented\r\n"),
        };
        if write.write_all(&answer).await.is_err() {
            return;
        }
    }
}

/// The lines after DATA up to the lone dot, with the leading dot of dot-stuffed lines removed.
async fn read_data<R: AsyncBufReadExt + Unpin>(lines: &mut R) -> Option<Vec<u8>> {
    let mut data = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        if lines.read_until(b'\n', &mut line).await.ok()? == 0 {
            return None;
        }
        if line == b".\r\n" || line == b".\n" {
            return Some(data);
        }
        let content = if line.starts_with(b".") {
            &line[1..]
        } else {
            &line[..]
        };
        data.extend_from_slice(content);
    }
}

/// The address of `MAIL FROM:<a@b> ...` or `RCPT TO:<a@b>`.
fn path_of(command: &str) -> String {
    let after = command.split_once(':').map_or("", |(_, rest)| rest).trim();
    let path = after.split_whitespace().next().unwrap_or("");
    path.trim_start_matches('<')
        .trim_end_matches('>')
        .to_string()
}
