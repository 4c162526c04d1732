//! Hosted embedding APIs as models: `openai:MODEL[@BASE_URL]` speaks OpenAI's
//! `POST {base}/embeddings` (OpenAI itself, vLLM, text-embeddings-inference, Ollama, LiteLLM),
//! `voyage:MODEL[@BASE_URL]` Voyage AI's (the same shape plus `input_type`). Unlike every other
//! model this sends the dataset's texts to a server, so it lives in the native CLI only: the
//! browser page never sends data anywhere.
//!
//! Texts go `--batch-size` at a time, `--api-concurrency` requests in flight. 429, 5xx gateway
//! errors and dropped connections are retried with exponential backoff (or after the server's
//! `Retry-After`), only briefly while no server has answered at all; 4xx answers are not, and
//! say what to fix. Answers are checked — one finite
//! vector per text, all of one size — and put back in input order by their `index`.

use std::io::Read;
use std::time::Duration;

use serde::Deserialize;

use super::{BatchSink, EncodeStats, Provider};
use crate::error::{Error, Result};
use crate::Progress;

/// Which side of the search a text is on. Voyage embeds queries and documents differently;
/// OpenAI-compatible servers are told nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputType {
    Query,
    Document,
}

impl InputType {
    pub fn name(self) -> &'static str {
        match self {
            InputType::Query => "query",
            InputType::Document => "document",
        }
    }
}

/// Exponential backoff: `first`, doubling up to `cap`, at most `attempts` tries of one request;
/// `unreached` tries while no server has answered at all and connections are refused (a wrong
/// URL or port fails in seconds, a server that answered once and went away gets the minute).
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    pub attempts: u32,
    pub unreached: u32,
    pub first: Duration,
    pub cap: Duration,
}

impl Default for Retry {
    /// Seven tries over about a minute (1 + 2 + 4 + 8 + 16 + 30 s of waiting); three (3 s) for
    /// a server never reached.
    fn default() -> Self {
        Retry { attempts: 7, unreached: 3, first: Duration::from_secs(1), cap: Duration::from_secs(30) }
    }
}

/// The longest `Retry-After` honoured; a server asking for more gets this.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(120);

/// One API model: where requests go, with which key.
pub struct Client {
    provider: Provider,
    model: String,
    base_url: String,
    url: String,
    key: Option<String>,
    agent: ureq::Agent,
    pub retry: Retry,
    /// Whether the server has answered anything (even an error) in this run.
    reached: std::sync::atomic::AtomicBool,
}

impl Client {
    /// The base URL from the spec, else `OPENAI_BASE_URL` / `VOYAGE_BASE_URL`, else the
    /// official host; the key from `OPENAI_API_KEY` / `VOYAGE_API_KEY`.
    pub fn from_env(provider: Provider, model: &str, base_url: Option<&str>) -> Result<Client> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let base = base_url
            .map(str::to_string)
            .or_else(|| var(provider.base_url_var()))
            .unwrap_or_else(|| provider.official_base_url().to_string());
        Client::new(provider, model, &base, var(provider.key_var()))
    }

    /// A key is required for the official hosts (an error naming the variable, before any
    /// request) and optional elsewhere (local servers usually take none).
    pub fn new(provider: Provider, model: &str, base_url: &str, key: Option<String>) -> Result<Client> {
        let base_url = base_url.trim_end_matches('/').to_string();
        let Some(name) = host(&base_url) else {
            return Err(Error::usage(
                format!("--model {}:{model}@{base_url}", provider.name()),
                "the base URL starts with http:// or https://, e.g. http://localhost:8000/v1",
            ));
        };
        if key.is_none() && Some(name) == host(provider.official_base_url()) {
            return Err(Error::usage(
                provider.key_var(),
                format!(
                    "not set: {base_url} needs an API key; export {}=... (a local server needs none: \
                     --model {}:{model}@http://localhost:8000/v1)",
                    provider.key_var(),
                    provider.name()
                ),
            ));
        }
        // Proxies from HTTPS_PROXY & co. for remote hosts only: ureq 2 ignores NO_PROXY, and a
        // server on this machine must not be reached through one.
        let local = name == "localhost" || name.starts_with("127.") || name == "[::1]";
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(30))
            .timeout(Duration::from_secs(300))
            .try_proxy_from_env(!local)
            .build();
        let url = format!("{base_url}/embeddings");
        let reached = false.into();
        Ok(Client { provider, model: model.to_string(), base_url, url, key, agent, retry: Retry::default(), reached })
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// `{base}/embeddings`, where every request goes.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Names this model's cache folder: provider, base URL, model and (Voyage only, whose
    /// vectors depend on it) input type. The key is not part of it.
    pub fn cache_key(&self, input: InputType) -> String {
        let input = match self.provider {
            Provider::OpenAi => "",
            Provider::Voyage => input.name(),
        };
        let id = format!("{}\0{}\0{}\0{input}", self.provider.name(), self.base_url, self.model);
        format!("{}-{}", self.provider.name(), &blake3::hash(id.as_bytes()).to_hex()[..32])
    }

    /// The JSON body of one request.
    pub fn body(&self, texts: &[&str], input: InputType) -> serde_json::Value {
        match self.provider {
            Provider::OpenAi => serde_json::json!({"model": self.model, "input": texts, "encoding_format": "float"}),
            Provider::Voyage => serde_json::json!({"model": self.model, "input": texts, "input_type": input.name()}),
        }
    }

    /// Encodes `texts` in requests of at most `batch_size`, handing each answer's vectors to
    /// `done` as it comes. Texts that are empty or only whitespace are not
    /// sent (the APIs refuse them) and get zero vectors, as in MTEB's API models.
    pub fn encode(
        &self,
        texts: &[&str],
        input: InputType,
        batch_size: usize,
        concurrency: usize,
        progress: &dyn Progress,
        done: &mut BatchSink,
    ) -> Result<EncodeStats> {
        let clock = web_time::Instant::now();
        let batch_size = batch_size.max(1);
        let empty = |t: &str| t.trim().is_empty();
        let mut stats =
            EncodeStats { texts: texts.len(), empty: texts.iter().filter(|t| empty(t)).count(), ..Default::default() };
        if stats.empty == texts.len() && !texts.is_empty() {
            return Err(Error::Api {
                url: self.url.clone(),
                what: format!("all {} texts to embed are empty or only whitespace", texts.len()),
                fix: "check the file's text fields (and --doc-text)".into(),
            });
        }
        let mut times = Vec::new();
        let mut size = None;
        progress.begin("encode", texts.len() as u64);
        // Requests of `batch_size` non-empty texts; each range of `texts` it covers also holds the
        // empty texts around them, which come back as zero rows.
        let ranges = request_ranges(texts, batch_size, empty);
        let sent: Vec<Vec<&str>> =
            ranges.iter().map(|r| texts[r.clone()].iter().filter(|t| !empty(t)).copied().collect()).collect();
        let batches: Vec<&[&str]> = sent.iter().map(Vec::as_slice).collect();
        let concurrency = concurrency.max(1);
        // `concurrency` requests in flight at a time, one thread each (the work is waiting on
        // the network); answers are taken in batch order, so the cache and the output see the
        // same order as one request at a time.
        for (w, window) in batches.chunks(concurrency).enumerate() {
            let answers: Vec<Result<(Answer, usize, f64)>> = std::thread::scope(|scope| {
                let jobs: Vec<_> = window
                    .iter()
                    .map(|chunk| {
                        scope.spawn(move || {
                            let t = web_time::Instant::now();
                            let (bytes, retries) = self.post(&self.body(chunk, input).to_string())?;
                            let answer = parse_response(&bytes, chunk.len()).map_err(|what| Error::Api {
                                url: self.url.clone(),
                                what,
                                fix: "point the model at an OpenAI-compatible /embeddings endpoint (BASE_URL is the \
                                      part before /embeddings, often ending in /v1)"
                                    .into(),
                            })?;
                            Ok((answer, retries, t.elapsed().as_secs_f64()))
                        })
                    })
                    .collect();
                jobs.into_iter().map(|j| j.join().expect("a request thread panicked")).collect()
            });
            for (i, answer) in answers.into_iter().enumerate() {
                let (answer, retries, seconds) = answer?;
                let b = w * concurrency + i;
                if let Some(d) = size.filter(|&d| d != answer.dim) {
                    return Err(Error::Api {
                        url: self.url.clone(),
                        what: format!("vectors of {} dimensions in answer {}, of {d} before", answer.dim, b + 1),
                        fix: "the server changed models mid-run; run again".into(),
                    });
                }
                size = Some(answer.dim);
                stats.retries += retries;
                stats.tokens += answer.tokens.unwrap_or(0);
                // This range's rows: the answer's, with zeros for its empty texts.
                let range = ranges[b].clone();
                let mut rows = answer.vectors.chunks_exact(answer.dim);
                let mut vectors = Vec::with_capacity(range.len() * answer.dim);
                for t in &texts[range.clone()] {
                    match empty(t) {
                        true => vectors.resize(vectors.len() + answer.dim, 0.0),
                        false => vectors.extend_from_slice(rows.next().expect("one row per text sent")),
                    }
                }
                progress.advance(range.len() as u64);
                done(super::Batch { first: range.start, vectors: &vectors, dim: answer.dim, truncated: &[] })?;
                times.push(seconds);
            }
        }
        progress.end();
        stats.finish(clock.elapsed().as_secs_f64(), times);
        Ok(stats)
    }

    /// POSTs `body` until it succeeds, a 4xx says it never will, or the retries run out.
    /// Returns the answer's bytes and how many retries it took.
    fn post(&self, body: &str) -> Result<(Vec<u8>, usize)> {
        let mut delay = self.retry.first;
        let mut attempt = 1;
        loop {
            let mut request = self.agent.post(&self.url).set("Content-Type", "application/json");
            if let Some(key) = &self.key {
                request = request.set("Authorization", &format!("Bearer {key}"));
            }
            // (what failed, the server's Retry-After, whether it answered at all)
            let sent = request.send_string(body);
            if !matches!(&sent, Err(ureq::Error::Transport(_))) {
                self.reached.store(true, std::sync::atomic::Ordering::Relaxed);
            }
            let (failure, wait, answered) = match sent {
                Ok(response) => {
                    let mut bytes = Vec::new();
                    match response.into_reader().read_to_end(&mut bytes) {
                        Ok(_) => return Ok((bytes, attempt as usize - 1)),
                        Err(e) => (format!("the connection broke while reading the answer: {e}"), None, true),
                    }
                }
                Err(ureq::Error::Status(code, response)) => {
                    let wait = retry_after(&response);
                    let status = format!("{code} {}", response.status_text());
                    let text = body_start(response);
                    if !matches!(code, 429 | 500 | 502 | 503 | 504) {
                        return Err(self.refused(code, &status, &text));
                    }
                    (format!("{status}: {text}"), wait, true)
                }
                Err(ureq::Error::Transport(t))
                    if matches!(t.kind(), ureq::ErrorKind::ConnectionFailed | ureq::ErrorKind::Io) =>
                {
                    let what = t.to_string();
                    let what = what.strip_prefix(&format!("{}: ", self.url)).unwrap_or(&what).to_string();
                    (what, None, false)
                }
                Err(ureq::Error::Transport(t)) => {
                    return Err(Error::Api {
                        url: self.url.clone(),
                        what: t.to_string(),
                        fix: "check the base URL in --model or the provider's *_BASE_URL variable".into(),
                    })
                }
            };
            let refused = !answered && !self.reached.load(std::sync::atomic::Ordering::Relaxed);
            if attempt >= self.retry.attempts || (refused && attempt >= self.retry.unreached) {
                let fix = if answered {
                    "the server is overloaded or down: try again later (with the cache on, texts already \
                     encoded are not sent again), or lower --batch-size"
                } else {
                    "check that a server is running at the base URL, and the URL itself"
                };
                return Err(Error::Api {
                    url: self.url.clone(),
                    what: format!("gave up after {attempt} attempts; the last: {failure}"),
                    fix: fix.into(),
                });
            }
            std::thread::sleep(wait.unwrap_or(delay));
            delay = (delay * 2).min(self.retry.cap);
            attempt += 1;
        }
    }

    /// The error for an answer that retrying cannot fix, with what to change.
    fn refused(&self, code: u16, status: &str, text: &str) -> Error {
        let var = self.provider.key_var();
        let fix = match code {
            401 if self.key.is_none() => format!("set {var}: no key was sent"),
            401 => format!("check {var}: the server refused its key"),
            403 => format!("check that the key in {var} may use the model '{}'", self.model),
            404 => format!(
                "check the base URL (requests go to BASE_URL/embeddings; OpenAI-compatible servers usually \
                 serve under /v1) and the model name '{}'",
                self.model
            ),
            413 => "lower --batch-size: the request is too large for the server".into(),
            _ => format!(
                "check the model name '{}' and the server's limits on texts per request (--batch-size) and \
                 on text length",
                self.model
            ),
        };
        Error::Api { url: self.url.clone(), what: format!("{status}: {text}"), fix }
    }
}

/// `texts` cut into consecutive ranges of at most `batch_size` texts that are not `empty`
/// (at least one each), the empty ones joining the range around them.
fn request_ranges(texts: &[&str], batch_size: usize, empty: impl Fn(&str) -> bool) -> Vec<std::ops::Range<usize>> {
    let mut ranges: Vec<std::ops::Range<usize>> = Vec::new();
    let mut start = 0;
    let mut full = 0;
    for (i, t) in texts.iter().enumerate() {
        if empty(t) {
            continue;
        }
        if full == batch_size {
            ranges.push(start..i);
            (start, full) = (i, 0);
        }
        full += 1;
    }
    if full > 0 {
        ranges.push(start..texts.len());
    }
    ranges
}

/// The host of an `http://` or `https://` URL (`None` for anything else).
fn host(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"))?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit('@').next()?;
    let host = match host_port.strip_prefix('[') {
        Some(v6) => &host_port[..v6.find(']')? + 2],
        None => host_port.split(':').next()?,
    };
    (!host.is_empty()).then_some(host)
}

/// `Retry-After: SECONDS` (or OpenAI's `retry-after-ms`), capped at [`MAX_RETRY_AFTER`].
fn retry_after(response: &ureq::Response) -> Option<Duration> {
    let ms = response.header("retry-after-ms").and_then(|v| v.trim().parse::<f64>().ok()).map(|ms| ms / 1000.0);
    let secs = ms.or_else(|| response.header("retry-after").and_then(|v| v.trim().parse::<f64>().ok()))?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs).min(MAX_RETRY_AFTER))
}

/// The first 300 characters of an error answer, on one line.
fn body_start(response: ureq::Response) -> String {
    let mut bytes = Vec::new();
    let _ = response.into_reader().take(64 * 1024).read_to_end(&mut bytes);
    let text = String::from_utf8_lossy(&bytes);
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match text.char_indices().nth(300) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None if text.is_empty() => "(empty body)".into(),
        None => text,
    }
}

/// One answer's vectors in input order.
#[derive(Debug, PartialEq)]
pub struct Answer {
    pub vectors: Vec<f32>,
    pub dim: usize,
    /// `usage.total_tokens` (or `prompt_tokens`), where the server reports it.
    pub tokens: Option<usize>,
}

#[derive(Deserialize)]
struct Response {
    data: Vec<Item>,
    #[serde(default)]
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct Item {
    embedding: Vec<f32>,
    index: Option<usize>,
}

#[derive(Deserialize)]
struct Usage {
    total_tokens: Option<usize>,
    prompt_tokens: Option<usize>,
}

/// Parses `{"data": [{"embedding": [...], "index": i}, ...], "usage": {...}}` for `n` texts:
/// one vector per text, ordered by `index`, all of one size. Every value is finite: JSON has no
/// NaN or infinity, and serde_json refuses numbers beyond f32's range.
pub fn parse_response(bytes: &[u8], n: usize) -> std::result::Result<Answer, String> {
    let r: Response = serde_json::from_slice(bytes).map_err(|e| {
        let start: String = String::from_utf8_lossy(bytes).chars().take(200).collect();
        format!("not an embeddings answer ({e}): {start}")
    })?;
    if r.data.len() != n {
        return Err(format!("{n} texts sent, {} vectors came back", r.data.len()));
    }
    let dim = r.data.first().map_or(0, |d| d.embedding.len());
    if n > 0 && dim == 0 {
        return Err("an empty vector came back".into());
    }
    let mut slot: Vec<Option<&[f32]>> = vec![None; n];
    for (i, item) in r.data.iter().enumerate() {
        let at = item.index.unwrap_or(i);
        if at >= n || slot[at].is_some() {
            return Err(format!("index {at} is out of range or repeated (texts are numbered 0 to {})", n - 1));
        }
        if item.embedding.len() != dim {
            return Err(format!("vector {at} has {} dimensions, vector 0 has {dim}", item.embedding.len()));
        }
        slot[at] = Some(&item.embedding);
    }
    let vectors = slot.into_iter().flat_map(|v| v.expect("every index filled: n items, none repeated")).copied();
    let tokens = r.usage.and_then(|u| u.total_tokens.or(u.prompt_tokens));
    Ok(Answer { vectors: vectors.collect(), dim, tokens })
}

/// One side (queries or documents) of an API model, as the cache and `rank` see it.
pub(super) struct Side<'a> {
    pub client: &'a Client,
    pub input: InputType,
    pub batch_size: usize,
    /// Requests in flight at once (`--api-concurrency`).
    pub concurrency: usize,
}

impl super::Embedder for Side<'_> {
    fn cache_key(&self, _root: &std::path::Path) -> Result<String> {
        Ok(self.client.cache_key(self.input))
    }
    fn dim(&self) -> Option<usize> {
        None
    }
    fn encode(&self, texts: &[&str], progress: &dyn Progress, done: &mut BatchSink) -> Result<EncodeStats> {
        self.client.encode(texts, self.input, self.batch_size, self.concurrency, progress, done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_bodies_per_provider() {
        let openai = Client::new(Provider::OpenAi, "m", "http://localhost:8000/v1/", None).unwrap();
        assert_eq!(openai.url(), "http://localhost:8000/v1/embeddings");
        assert_eq!(
            openai.body(&["猫", "dog"], InputType::Query).to_string(),
            r#"{"model":"m","input":["猫","dog"],"encoding_format":"float"}"#
        );
        let voyage = Client::new(Provider::Voyage, "voyage-3.5", "https://api.voyageai.com/v1", Some("k".into()));
        let voyage = voyage.unwrap();
        assert_eq!(
            voyage.body(&["a"], InputType::Document).to_string(),
            r#"{"model":"voyage-3.5","input":["a"],"input_type":"document"}"#
        );
        assert_eq!(voyage.body(&["a"], InputType::Query)["input_type"], "query");
    }

    #[test]
    fn cache_keys_split_voyage_sides_only() {
        let c = |p, url: &str, m: &str| Client::new(p, m, url, None).unwrap();
        let openai = c(Provider::OpenAi, "http://h/v1", "m");
        assert_eq!(openai.cache_key(InputType::Query), openai.cache_key(InputType::Document));
        assert!(openai.cache_key(InputType::Query).starts_with("openai-"));
        assert_ne!(
            openai.cache_key(InputType::Query),
            c(Provider::OpenAi, "http://h2/v1", "m").cache_key(InputType::Query)
        );
        assert_ne!(
            openai.cache_key(InputType::Query),
            c(Provider::OpenAi, "http://h/v1", "m2").cache_key(InputType::Query)
        );
        let voyage = c(Provider::Voyage, "http://h/v1", "m");
        assert_ne!(voyage.cache_key(InputType::Query), voyage.cache_key(InputType::Document));
        assert_ne!(voyage.cache_key(InputType::Document), openai.cache_key(InputType::Document));
    }

    #[test]
    fn official_hosts_need_a_key_local_servers_do_not() {
        let e = Client::new(Provider::OpenAi, "m", "https://api.openai.com/v1", None).err().unwrap().to_string();
        assert!(e.contains("OPENAI_API_KEY"), "{e}");
        let e = Client::new(Provider::Voyage, "m", "https://api.voyageai.com/v1", None).err().unwrap().to_string();
        assert!(e.contains("VOYAGE_API_KEY"), "{e}");
        assert!(Client::new(Provider::OpenAi, "m", "https://api.openai.com/v1", Some("k".into())).is_ok());
        assert!(Client::new(Provider::OpenAi, "m", "http://127.0.0.1:9/v1", None).is_ok());
        assert!(Client::new(Provider::OpenAi, "m", "ftp://x/v1", None).is_err());
    }

    #[test]
    fn hosts_of_urls() {
        assert_eq!(host("https://api.openai.com/v1"), Some("api.openai.com"));
        assert_eq!(host("http://localhost:8000/v1"), Some("localhost"));
        assert_eq!(host("http://user:pw@10.0.0.2:80"), Some("10.0.0.2"));
        assert_eq!(host("http://[::1]:8080/v1"), Some("[::1]"));
        assert_eq!(host("localhost:8000"), None);
        assert_eq!(host("http:///v1"), None);
    }

    #[test]
    fn empty_texts_ride_along_with_their_neighbours() {
        let empty = |t: &str| t.trim().is_empty();
        let texts = ["", "a", " ", "b", "c", "\u{3000}", "d", ""];
        assert_eq!(request_ranges(&texts, 2, empty), vec![0..4, 4..8]);
        assert_eq!(request_ranges(&texts, 10, empty), vec![0..8]);
        assert_eq!(request_ranges(&texts, 1, empty), vec![0..3, 3..4, 4..6, 6..8]);
        assert!(request_ranges(&["", " "], 4, empty).is_empty());
    }

    #[test]
    fn answers_are_put_in_input_order() {
        let json = br#"{"object":"list","data":[
            {"object":"embedding","embedding":[3.0,4.0],"index":1},
            {"object":"embedding","embedding":[1.5,-2.0],"index":0}],
            "model":"m","usage":{"prompt_tokens":7,"total_tokens":7}}"#;
        let a = parse_response(json, 2).unwrap();
        assert_eq!(a, Answer { vectors: vec![1.5, -2.0, 3.0, 4.0], dim: 2, tokens: Some(7) });
        // No index, no usage (some servers): the order of the list.
        let a = parse_response(br#"{"data":[{"embedding":[1]},{"embedding":[2]}]}"#, 2).unwrap();
        assert_eq!(a, Answer { vectors: vec![1.0, 2.0], dim: 1, tokens: None });
    }

    #[test]
    fn bad_answers_say_what_is_wrong() {
        let err = |json: &str, n| parse_response(json.as_bytes(), n).unwrap_err();
        assert!(err(r#"{"data":[{"embedding":[1],"index":0}]}"#, 2).contains("2 texts sent, 1 vectors"));
        assert!(err(r#"{"data":[{"embedding":[1],"index":0},{"embedding":[1,2],"index":1}]}"#, 2)
            .contains("vector 1 has 2 dimensions, vector 0 has 1"));
        assert!(err(r#"{"data":[{"embedding":[1],"index":0},{"embedding":[2],"index":0}]}"#, 2).contains("repeated"));
        assert!(err(r#"{"data":[{"embedding":[1e39],"index":0}]}"#, 1).contains("out of range"));
        assert!(err(r#"{"data":[{"embedding":[],"index":0}]}"#, 1).contains("empty"));
        assert!(err(r#"{"error":{"message":"no"}}"#, 1).contains("not an embeddings answer"));
        assert!(err(r#"{"data":[{"embedding":"AAAA","index":0}]}"#, 1).contains("not an embeddings answer"));
    }
}
