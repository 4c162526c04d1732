//! Every flag, defined once (clap derive). `Args` is the raw command line; [`EvalArgs::config`]
//! validates it into the [`Config`] the library takes — the same struct the page sends as JSON.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::{Args as ClapArgs, Parser, Subcommand, ValueEnum};

use embeval::data::{DocText, Files, Format};
use embeval::embed::ModelPrompts;
use embeval::{Config, Convention, Error, ModelSpec, Result, ScoreFn};

#[derive(Parser)]
#[command(
    name = "embeval",
    version,
    about = "Which embedding model retrieves best on your data? trec_eval- and sentence-transformers-exact metrics."
)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Evaluate one or more models on a dataset and print a comparison table.
    Eval(EvalArgs),
    /// Encode one slice of the corpus's documents with a neural model into a shard file, one
    /// job of many (for `eval --doc-embeddings`).
    // Options shared with eval that encode has no use for (judgments, query texts, API models,
    // `--truncate-dim`, which eval applies to the full vectors shards keep) stay out of its help.
    #[command(
        mut_arg("split", |a| a.hide(true)),
        mut_arg("min_relevance", |a| a.hide(true)),
        mut_arg("qrels", |a| a.hide(true)),
        mut_arg("queries", |a| a.hide(true)),
        mut_arg("api_concurrency", |a| a.hide(true)),
        mut_arg("truncate_dim", |a| a.hide(true))
    )]
    Encode(EncodeArgs),
    /// Split a dataset's queries into train/dev/test deterministically (BEIR folder out).
    Split(SplitArgs),
    /// Describe the metrics.
    Metrics(MetricsArgs),
}

#[derive(Clone, Copy, PartialEq, ValueEnum)]
pub enum FormatArg {
    Auto,
    Beir,
    St,
    Qalog,
    Trec,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ConventionArg {
    /// trec_eval / pytrec_eval (graded nDCG, MAP over |R|, ties by doc id descending)
    Trec,
    /// sentence-transformers InformationRetrievalEvaluator (binary, ties by doc id ascending)
    St,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RunScoresArg {
    /// As C floats: pytrec_eval (so BEIR and MTEB) and trec_eval 9
    Float,
    /// As doubles: trec_eval 10 and ranx
    Double,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ScoreArg {
    Cosine,
    Dot,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum SearchArg {
    /// large work on the models' GPU in a cuda/metal build; else the WGSL shaders if a short
    /// calibration on this workload says they are faster than the CPU, else the CPU
    Auto,
    /// all cores, block-wise sgemm + top-k
    Cpu,
    /// the models' GPU (--device) through candle's matrix product in a cuda/metal build; else
    /// the WGSL shaders through wgpu (Vulkan/Metal/DX12); the CPU if neither is there
    Gpu,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum DetailsArg {
    /// the summary only
    Off,
    /// judgments, rankings and per-query metrics (ids and numbers, no text)
    Ids,
    /// ids plus query texts and document previews
    Texts,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum DtypeArg {
    Auto,
    F32,
    F16,
    Bf16,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum AttentionArg {
    /// varlen where flash-attention runs, eager elsewhere
    Auto,
    /// padded batches, scores as a tensor
    Eager,
    /// packed tokens without padding (flash-attention where it runs)
    Varlen,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum DocTextArg {
    /// `(title + " " + text).strip()` as BEIR and MTEB
    TitleText,
    /// the text field only
    Text,
}

#[derive(ClapArgs)]
pub struct DataArgs {
    /// Dataset: a BEIR or sentence-transformers folder, or a QA-log JSONL (with --corpus).
    #[arg(long, value_name = "PATH")]
    pub data: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "auto")]
    pub format: FormatArg,
    /// BEIR: which qrels/<SPLIT>.tsv to read [default: test].
    #[arg(long)]
    pub split: Option<String>,
    /// QA logs: the corpus JSONL ({"doc_id","text"}).
    #[arg(long, value_name = "FILE")]
    pub corpus: Option<PathBuf>,
    /// QA logs: drop references whose relevance_score is below this [default: 0.7].
    #[arg(long)]
    pub min_relevance: Option<f64>,
    /// TREC qrels file (`qid 0 docid rel`).
    #[arg(long, value_name = "FILE")]
    pub qrels: Option<PathBuf>,
    /// With --qrels: query texts for failure lists: a .jsonl (BEIR's queries.jsonl), else
    /// qid<TAB>text lines (Anserini's topics .tsv/.txt); .gz accepted.
    #[arg(long, value_name = "FILE")]
    pub queries: Option<PathBuf>,
    /// How a BEIR (or QA-log corpus) document's title and text are joined.
    #[arg(long, value_enum, default_value = "title-text")]
    pub doc_text: DocTextArg,
}

#[derive(ClapArgs)]
pub struct NeuralArgs {
    /// Neural models: where they run: auto (a GPU when this build has CUDA or Metal and one is
    /// there, else the CPU), cpu, cuda, cuda:N or metal.
    #[arg(long, value_name = "DEVICE", default_value = "auto")]
    pub device: String,
    /// Texts per forward pass for neural models (texts per request for API models).
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// API models: requests in flight at once (each of --batch-size texts).
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub api_concurrency: usize,
    /// Neural models: padded tokens per forward pass at most (texts × longest text), so long
    /// texts go in smaller batches (as text-embeddings-inference's --max-batch-tokens).
    /// [default: 16384 on the CPU; on a GPU, from its free memory]
    #[arg(long, value_name = "N")]
    pub max_batch_tokens: Option<usize>,
    /// Neural models: number format (vectors are f32 either way). auto: the checkpoint's own
    /// (config.json's dtype / torch_dtype, else the weights' own format, as sentence-transformers
    /// 6 loads it). On the CPU f16/bf16 are the weights' format only (half the memory, f32's
    /// speed, activations f32); on a GPU the activations' too.
    #[arg(long, value_enum, default_value = "auto")]
    pub dtype: DtypeArg,
    /// Neural models: how attention runs, as transformers' attn_implementation. varlen packs
    /// the tokens without padding and runs flash-attention 2's kernel in a `--features
    /// flash-attn` build on CUDA in f16/bf16 (elsewhere it runs eager ops, slower: for checking).
    /// MPNet always runs eager. Reported as encoder.attention in the results.
    #[arg(long, value_enum, default_value = "auto")]
    pub attention: AttentionArg,
    /// Neural models: truncate texts at N tokens (default: the model's max_seq_length).
    #[arg(long, value_name = "N")]
    pub max_length: Option<usize>,
    /// Neural models: keep the first D dimensions of each vector (Matryoshka; not re-normalised,
    /// as sentence-transformers' truncate_dim).
    #[arg(long, value_name = "D")]
    pub truncate_dim: Option<usize>,
    /// Neural and API models: embedding cache folder [default: $EMBEVAL_CACHE/embeddings, else
    /// $XDG_CACHE_HOME/embeval/embeddings, else ~/.cache/embeval/embeddings].
    #[arg(long, value_name = "DIR")]
    pub cache: Option<PathBuf>,
    /// Neural and API models: text put before each query (e.g. "query: " for e5), overriding
    /// the model folder's prompts and the presets. LABEL=TEXT applies to that model only
    /// (repeatable); plain TEXT to every neural and API model.
    #[arg(long, value_name = "[LABEL=]TEXT")]
    pub query_prompt: Vec<String>,
    /// Neural and API models: text put before each document (e.g. "passage: " for e5);
    /// LABEL=TEXT as for --query-prompt.
    #[arg(long, value_name = "[LABEL=]TEXT")]
    pub doc_prompt: Vec<String>,
    /// Neural and API models: encode everything, neither reading nor writing the cache.
    #[arg(long, conflicts_with = "cache")]
    pub no_cache: bool,
}

#[derive(ClapArgs)]
pub struct EvalArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// A model, repeatable: [LABEL=]bm25[:k1=0.9,b=0.4] | emb:Q.npy,D.npy[,QIDS,DIDS] | emb:F.safetensors | run:FILE | MODEL_FOLDER
    /// | hf:ORG/NAME | openai:MODEL[@BASE_URL] | voyage:MODEL[@BASE_URL]. API models send the
    /// texts to the server (key from OPENAI_API_KEY / VOYAGE_API_KEY, base URL default from
    /// OPENAI_BASE_URL / VOYAGE_BASE_URL, else the official host).
    #[arg(long = "model", short = 'm', value_name = "MODEL")]
    pub models: Vec<String>,
    #[command(flatten)]
    pub neural: NeuralArgs,
    /// A TREC run file to evaluate as a model (repeatable; same as --model run:FILE).
    #[arg(long = "run", value_name = "FILE")]
    pub runs: Vec<PathBuf>,
    /// Cut-offs for every metric.
    #[arg(long, value_delimiter = ',', default_value = "1,3,5,10,100")]
    pub k: Vec<usize>,
    #[arg(long, value_enum, default_value = "trec")]
    pub convention: ConventionArg,
    /// Runs under trec: how their scores compare. Scores equal as floats but not as doubles
    /// (BM25 scores written with 6 decimals above 16, say) tie as floats, then doc ids decide
    /// [default: float; st always compares doubles]
    #[arg(long, value_enum)]
    pub run_scores: Option<RunScoresArg>,
    /// Similarity for embeddings.
    #[arg(long, value_enum, default_value = "cosine")]
    pub score: ScoreArg,
    /// Where embeddings are searched.
    #[arg(long, value_enum, default_value = "auto")]
    pub search: SearchArg,
    /// Document vectors from the shard files `embeval encode` wrote into DIR, streamed through
    /// the search 256 MiB of vectors at a time; the one neural --model encodes the queries here.
    #[arg(long, value_name = "DIR")]
    pub doc_embeddings: Option<PathBuf>,
    /// Write results.json, results.csv, per_query.jsonl, results.md and report.html here.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// With --out: also write each model's ranking as a TREC run, DIR/runs/LABEL.trec
    /// (`qid Q0 docid rank score LABEL`, to the deepest cut-off), for trec_eval, ranx or fusion.
    #[arg(long, requires = "out")]
    pub save_runs: bool,
    /// List the N worst queries per model (0: none): the lowest Recall@--failure-k among
    /// those below --failure-threshold, with missed and retrieved documents.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub failures: usize,
    /// A failure is a query with Recall@K below --failure-threshold.
    #[arg(long, default_value_t = 10, value_name = "K")]
    pub failure_k: usize,
    /// The Recall@--failure-k below which a query is a failure (1: any relevant document
    /// missing from the top K).
    #[arg(long, default_value_t = 1.0, value_name = "R")]
    pub failure_threshold: f64,
    /// Docs per query in per_query.jsonl.
    #[arg(long, default_value_t = 10)]
    pub top: usize,
    /// Per-query detail in results.json, for report.html's per-query and model-vs-model views.
    #[arg(long, value_enum, default_value = "off")]
    pub details: DetailsArg,
    /// No progress bars or validation report on stderr.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(ClapArgs)]
pub struct EncodeArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// The neural model: [LABEL=]MODEL_FOLDER or [LABEL=]hf:ORG/NAME[@REVISION], as for eval.
    #[arg(long, short = 'm', value_name = "MODEL")]
    pub model: String,
    #[command(flatten)]
    pub neural: NeuralArgs,
    /// This job's slice: the I-th (0-based) of N contiguous slices of the corpus, e.g.
    /// --shard $JOB_COMPLETION_INDEX/8 or --shard $SLURM_ARRAY_TASK_ID/8.
    #[arg(long, value_name = "I/N")]
    pub shard: String,
    /// Folder for shard-I-of-N.safetensors and shard-I-of-N.json, shared by all N jobs.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// No progress bar on stderr.
    #[arg(long, short)]
    pub quiet: bool,
}

/// One `--ratios` weight.
fn weight(s: &str) -> std::result::Result<u32, String> {
    s.trim()
        .parse()
        .map_err(|_| format!("'{s}': weights are whole numbers ≥ 0, e.g. 70,15,15 (or 8,1,1 for 0.8,0.1,0.1)"))
}

#[derive(ClapArgs)]
pub struct SplitArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// Output BEIR folder (qrels/train.tsv, dev.tsv, test.tsv).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Weights of train, dev, test (whole numbers).
    #[arg(long, value_delimiter = ',', default_value = "70,15,15", value_parser = weight)]
    pub ratios: Vec<u32>,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

#[derive(ClapArgs)]
pub struct MetricsArgs {
    /// Print each metric's definition under both conventions.
    #[arg(long)]
    pub explain: bool,
}

impl DataArgs {
    /// The files of the evaluation, by logical name.
    pub fn files(&self) -> Result<Files> {
        self.check()?;
        let mut files = match &self.data {
            Some(p) if p.is_dir() => Files::from_dir(p)?,
            Some(p) if p.is_file() => {
                let mut f = Files::new(p.parent().map(|d| d.display().to_string()).unwrap_or_default());
                f.add_path(embeval::data::names::QALOG, p);
                let corpus = self.corpus.as_ref().ok_or_else(|| {
                    Error::usage(
                        "--corpus",
                        format!("{} is a file: a QA log needs its corpus too (--corpus CORPUS.jsonl)", p.display()),
                    )
                })?;
                f.add_path(embeval::data::names::BEIR_CORPUS, corpus);
                f
            }
            Some(p) => {
                return Err(Error::missing(p.display().to_string(), "no such file or folder", "check the --data path"))
            }
            None if self.qrels.is_some() => Files::new("."),
            None => return Err(Error::usage("--data", "give --data PATH (or --qrels FILE with --run FILE)")),
        };
        for (flag, p) in [("--qrels", &self.qrels), ("--queries", &self.queries)] {
            if let Some(p) = p.as_ref().filter(|p| p.is_dir()) {
                return Err(Error::missing(
                    p.display().to_string(),
                    "a folder, where a file was expected",
                    format!("give the file itself in {flag} (a BEIR folder goes in --data)"),
                ));
            }
        }
        if let Some(q) = &self.qrels {
            files.add_path(embeval::data::names::QRELS, q);
        }
        if let Some(q) = &self.queries {
            // BEIR's JSON lines by name, else `qid<TAB>text` lines (Anserini's topics .tsv/.txt),
            // either gzipped.
            let path = q.to_string_lossy();
            let plain = path.strip_suffix(".gz").unwrap_or(&path);
            let json = plain.ends_with(".jsonl") || plain.ends_with(".json");
            let name = if json { "queries.jsonl" } else { "queries.tsv" };
            files.add_path(name, q);
        }
        Ok(files)
    }

    /// Flags that would otherwise be ignored without a word.
    fn check(&self) -> Result<()> {
        let folder = self.data.as_ref().is_some_and(|p| p.is_dir());
        if self.qrels.is_some() && folder && self.format != FormatArg::Trec {
            return Err(Error::usage(
                "--qrels",
                "a dataset folder has its own judgments (qrels/SPLIT.tsv, relevant_docs.json): drop --qrels, or add \
                 --format trec to judge the folder's queries by this TREC qrels file instead",
            ));
        }
        if self.queries.is_some() && self.qrels.is_none() {
            return Err(Error::usage("--queries", "query texts go with TREC judgments: give --qrels FILE too"));
        }
        if self.format == FormatArg::Trec && self.qrels.is_none() {
            return Err(Error::usage(
                "--format trec",
                "judges by a TREC qrels file: give --qrels FILE (a BEIR folder's own qrels: drop --format trec)",
            ));
        }
        if self.data.is_none() && !matches!(self.format, FormatArg::Trec | FormatArg::Auto) {
            return Err(Error::usage(
                "--format",
                "this format is a dataset given with --data: give --data PATH (or, for --qrels FILE with --run \
                 FILE, drop --format)",
            ));
        }
        if self.corpus.is_some() && folder {
            return Err(Error::usage(
                "--corpus",
                "is for a QA log given as --data FILE.jsonl; a dataset folder has its own corpus",
            ));
        }
        if let Some(p) = self.data.as_ref().filter(|p| p.is_file()) {
            let name =
                p.file_name().map(|n| n.to_string_lossy().trim_end_matches(".gz").to_string()).unwrap_or_default();
            use embeval::data::names::*;
            if [BEIR_CORPUS, BEIR_QUERIES, ST_QUERIES, ST_CORPUS, ST_RELEVANT].contains(&name.as_str()) {
                let folder = p.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
                return Err(Error::usage(
                    "--data",
                    format!(
                        "{} is one file of a dataset: give the folder that holds it (--data {})",
                        p.display(),
                        folder.display()
                    ),
                ));
            }
        }
        if self.min_relevance.is_some_and(|m| !m.is_finite()) {
            return Err(Error::usage("--min-relevance", "give a number, e.g. 0.7"));
        }
        Ok(())
    }

    /// Flags of one format given for a dataset of another (known once it is loaded).
    pub fn check_format(&self, format: Format) -> Result<()> {
        if self.split.is_some() && format != Format::Beir {
            return Err(Error::usage(
                "--split",
                format!("picks a BEIR folder's qrels/SPLIT.tsv; this dataset is {} (drop --split)", format.name()),
            ));
        }
        if self.qrels.is_some() && format == Format::Qalog {
            return Err(Error::usage(
                "--qrels",
                "a QA log's references are its judgments (those with relevance_score ≥ --min-relevance): drop --qrels",
            ));
        }
        if self.min_relevance.is_some() && format != Format::Qalog {
            return Err(Error::usage(
                "--min-relevance",
                format!("filters a QA log's references; this dataset is {} (drop --min-relevance)", format.name()),
            ));
        }
        Ok(())
    }

    pub fn load_options(&self) -> embeval::LoadOptions {
        embeval::LoadOptions {
            format: match self.format {
                FormatArg::Auto if self.qrels.is_some() && self.data.is_none() => Format::Trec,
                FormatArg::Auto => Format::Auto,
                FormatArg::Beir => Format::Beir,
                FormatArg::St => Format::St,
                FormatArg::Qalog => Format::Qalog,
                FormatArg::Trec => Format::Trec,
            },
            split: self.split.clone().unwrap_or_else(|| embeval::LoadOptions::default().split),
            min_relevance: self.min_relevance.unwrap_or(embeval::LoadOptions::default().min_relevance),
            doc_text: match self.doc_text {
                DocTextArg::TitleText => DocText::TitleText,
                DocTextArg::Text => DocText::Text,
            },
            keep_doc_texts: true,
        }
    }
}

impl EvalArgs {
    /// The validated config and the files (model files registered under their paths).
    pub fn config(&self) -> Result<(Config, Files)> {
        folders(&[("--out", self.out.as_ref()), ("--cache", self.neural.cache.as_ref())])?;
        let mut files = self.data.files()?;
        let mut models = self.models.clone();
        models.extend(self.runs.iter().map(|r| format!("run:{}", r.display())));
        if models.is_empty() {
            if self.data.data.is_none() {
                return Err(Error::usage(
                    "--run",
                    "TREC qrels alone have nothing to evaluate: add --run FILE (or --data with a corpus)",
                ));
            }
            models.push("bm25".into());
        }
        // A run whose path is not UTF-8 (a Shift_JIS name from a Windows zip) is read by its
        // own path; its name in the reports is the path shown lossily.
        for r in self.runs.iter().filter(|r| r.to_str().is_none() && r.is_file()) {
            files.add_path(r.display().to_string(), r);
        }
        add_model_files(&mut files, &models)?;
        // Neural and API models' labels, for `--query-prompt LABEL=TEXT`.
        let labels: Vec<String> = models
            .iter()
            .filter_map(|m| match ModelSpec::parse(m) {
                Ok(ModelSpec::Neural { label, .. } | ModelSpec::Api { label, .. }) => Some(label),
                _ => None,
            })
            .collect();
        // A missing API key is reported now, not after the models before it have run.
        for m in &models {
            if let Ok(ModelSpec::Api { provider, model, base_url, .. }) = ModelSpec::parse(m) {
                embeval::embed::api::Client::from_env(provider, &model, base_url.as_deref())?;
            }
        }
        let config = Config {
            load: self.data.load_options(),
            convention: match self.convention {
                ConventionArg::Trec => Convention::Trec,
                ConventionArg::St => Convention::St,
            },
            run_scores: match self.run_scores {
                Some(RunScoresArg::Float) if matches!(self.convention, ConventionArg::St) => {
                    return Err(Error::usage(
                        "--run-scores",
                        "st compares scores as Python floats (doubles), as sentence-transformers does: drop \
                         --run-scores float",
                    ))
                }
                Some(RunScoresArg::Double) => embeval::RunScores::Double,
                _ => embeval::RunScores::Float,
            },
            k: self.k.clone(),
            models,
            score_function: match self.score {
                ScoreArg::Cosine => ScoreFn::Cosine,
                ScoreArg::Dot => ScoreFn::Dot,
            },
            search: match self.search {
                SearchArg::Auto => embeval::search::SearchPath::Auto,
                SearchArg::Cpu => embeval::search::SearchPath::Cpu,
                SearchArg::Gpu => embeval::search::SearchPath::Gpu,
            },
            neural: self.neural.options(&labels)?,
            cache: self.neural.cache_dir(),
            doc_embeddings: self.doc_embeddings.as_ref().map(|d| d.display().to_string()),
            failures: self.failures,
            failure_k: self.failure_k,
            failure_threshold: self.failure_threshold,
            top: self.top,
            details: match self.details {
                DetailsArg::Off => embeval::report::details::DetailLevel::Off,
                DetailsArg::Ids => embeval::report::details::DetailLevel::Ids,
                DetailsArg::Texts => embeval::report::details::DetailLevel::Texts,
            },
            save_runs: self.save_runs,
        };
        config.validate()?;
        Ok((config, files))
    }
}

#[cfg(feature = "models")]
impl EncodeArgs {
    /// The files (model registered), the model, the neural settings and the shard.
    pub fn request(&self) -> Result<(Files, ModelSpec, embeval::NeuralOptions, embeval::embed::shards::Shard)> {
        folders(&[("--out", Some(&self.out)), ("--cache", self.neural.cache.as_ref())])?;
        let mut files = self.data.files()?;
        add_model_files(&mut files, std::slice::from_ref(&self.model))?;
        let spec = ModelSpec::parse(&self.model)?;
        let neural = self.neural.options(&[spec.label().to_string()])?;
        let shard = embeval::embed::shards::Shard::parse(&self.shard)?;
        Ok((files, spec, neural, shard))
    }
}

/// Registers each model's files in `files`: `hf:` ids from the hub's cache (downloading them
/// there first), folders and files from disk.
fn add_model_files(files: &mut Files, models: &[String]) -> Result<()> {
    for m in models {
        let spec = ModelSpec::parse(m)?;
        for f in spec.files() {
            let p = std::path::Path::new(&f);
            if files.has(&f) && !p.exists() {
                continue; // a run registered by its non-UTF-8 path above
            }
            if let Some(id) = f.strip_prefix("hf:") {
                // Without neural models, the run stops with its own error before any file is read.
                #[cfg(feature = "models")]
                files.add_dir(&f, &embeval::embed::hub::resolve(id)?)?;
                #[cfg(not(feature = "models"))]
                let _ = id;
            } else if p.is_dir() && matches!(spec, ModelSpec::Neural { .. }) {
                files.add_dir(&f, p)?;
            } else if p.is_dir() {
                return Err(Error::missing(
                    &f,
                    "a folder, where a file was expected",
                    format!("give the file itself in --model {m} (run:FILE is a TREC run; emb: takes .npy/.safetensors files)"),
                ));
            } else if p.is_file() && matches!(spec, ModelSpec::Neural { .. }) {
                return Err(Error::missing(
                    &f,
                    "a file, where a model folder (config.json, tokenizer.json, the weights) was expected",
                    format!(
                        "pass the model's folder in --model {m}; precomputed vectors are emb:Q.npy,D.npy, a \
                         ranking run:FILE"
                    ),
                ));
            } else if p.exists() {
                // A file, or a pipe (`--run <(zcat run.gz)`), read as one.
                files.add_path(f.clone(), &f);
            } else {
                return Err(Error::missing(
                    &f,
                    "model file or folder not found",
                    format!(
                        "check the path in --model {m}; known models are bm25, emb:Q.npy,D.npy, \
                         emb:FILE.safetensors, run:FILE, hf:ORG/NAME[@REVISION], openai:MODEL[@BASE_URL], \
                         voyage:MODEL[@BASE_URL] and sentence-transformers model folders"
                    ),
                ));
            }
        }
    }
    Ok(())
}

impl NeuralArgs {
    /// The neural settings; `labels` are this run's neural models, for `--query-prompt LABEL=TEXT`.
    pub fn options(&self, labels: &[String]) -> Result<embeval::NeuralOptions> {
        Ok(embeval::NeuralOptions {
            batch_size: self.batch_size,
            api_concurrency: self.api_concurrency,
            max_batch_tokens: self.max_batch_tokens,
            max_length: self.max_length,
            truncate_dim: self.truncate_dim,
            query_prompt: global_prompt("--query-prompt", &self.query_prompt, labels)?,
            doc_prompt: global_prompt("--doc-prompt", &self.doc_prompt, labels)?,
            model_prompts: model_prompts(&self.query_prompt, &self.doc_prompt, labels),
            dtype: match self.dtype {
                DtypeArg::Auto => embeval::Dtype::Auto,
                DtypeArg::F32 => embeval::Dtype::F32,
                DtypeArg::F16 => embeval::Dtype::F16,
                DtypeArg::Bf16 => embeval::Dtype::Bf16,
            },
            attention: match self.attention {
                AttentionArg::Auto => embeval::AttentionChoice::Auto,
                AttentionArg::Eager => embeval::AttentionChoice::Eager,
                AttentionArg::Varlen => embeval::AttentionChoice::Varlen,
            },
            device: embeval::embed::device::DeviceChoice::parse(&self.device)?,
        })
    }

    /// The embedding cache folder, unless `--no-cache`.
    pub fn cache_dir(&self) -> Option<String> {
        if self.no_cache {
            None
        } else {
            self.cache.clone().or_else(default_cache).map(|p| p.display().to_string())
        }
    }
}

/// Refuses folder flags that name an existing file (the write would fail later, naming a path
/// inside it rather than the flag).
pub fn folders(flags: &[(&str, Option<&PathBuf>)]) -> Result<()> {
    for (flag, path) in flags {
        // The path or the nearest of its parents that exists (the folders under it are made
        // when written): a file there would fail only after the models ran.
        let Some(existing) = path.and_then(|p| p.ancestors().find(|a| a.exists())) else { continue };
        if !existing.is_dir() {
            return Err(Error::usage(
                *flag,
                format!("{} is a file: give a folder (created if missing)", existing.display()),
            ));
        }
    }
    Ok(())
}

/// Splits a prompt flag's value into (model label, text) when it starts with `LABEL=` for one
/// of this run's neural or API models; any other value is a prompt for every model.
fn split_prompt<'a>(value: &'a str, labels: &[String]) -> (Option<&'a str>, &'a str) {
    match value.split_once('=') {
        Some((label, text)) if labels.iter().any(|l| l == label) => (Some(label), text),
        _ => (None, value),
    }
}

/// The one prompt for every model among a flag's values, if any.
fn global_prompt(flag: &str, values: &[String], labels: &[String]) -> Result<Option<String>> {
    let mut global = values.iter().filter(|v| split_prompt(v, labels).0.is_none());
    let first = global.next().cloned();
    // `LABEL=TEXT` whose label is no model's would otherwise become every model's prompt.
    if let Some((prefix, _)) = first.as_deref().and_then(|v| v.split_once('=')) {
        let word = !prefix.is_empty() && prefix.chars().all(|c| c.is_alphanumeric() || "_-.:/()".contains(c));
        if word && !prefix.ends_with(':') {
            return Err(Error::usage(
                flag,
                format!(
                    "'{prefix}=' names no model of this run (neural and API models here: {}); labels are matched \
                     exactly — or, for one prompt for every model, leave out the '{prefix}=' part",
                    if labels.is_empty() { "none".to_string() } else { labels.join(", ") }
                ),
            ));
        }
    }
    if global.next().is_some() {
        return Err(Error::usage(
            flag,
            format!(
                "given twice for every model; name a model with {flag} LABEL=TEXT (neural and API models here: {})",
                labels.join(", ")
            ),
        ));
    }
    Ok(first)
}

/// Per-model prompts among the flags' values.
fn model_prompts(queries: &[String], docs: &[String], labels: &[String]) -> BTreeMap<String, ModelPrompts> {
    let mut out: BTreeMap<String, ModelPrompts> = BTreeMap::new();
    for (values, is_query) in [(queries, true), (docs, false)] {
        for v in values {
            if let (Some(label), text) = split_prompt(v, labels) {
                let p = out.entry(label.to_string()).or_default();
                *(if is_query { &mut p.query } else { &mut p.document }) = Some(text.to_string());
            }
        }
    }
    out
}

/// Where embeddings are cached unless `--cache` or `--no-cache` says otherwise.
fn default_cache() -> Option<PathBuf> {
    embeval::embed::cache::default_root()
}

#[cfg(test)]
mod tests {
    use super::{global_prompt, model_prompts, split_prompt};

    #[test]
    fn prompt_flags_per_model_or_for_all() {
        let labels = vec!["e5".to_string(), "ruri".to_string()];
        assert_eq!(split_prompt("e5=query: ", &labels), (Some("e5"), "query: "));
        // Not a label of this run: the whole value is the prompt, '=' and all.
        assert_eq!(split_prompt("a=b: ", &labels), (None, "a=b: "));
        assert_eq!(split_prompt("検索クエリ: ", &labels), (None, "検索クエリ: "));
        let q = vec!["ruri=検索クエリ: ".to_string(), "query: ".to_string()];
        let d = vec!["ruri=検索文書: ".to_string()];
        assert_eq!(global_prompt("--query-prompt", &q, &labels).unwrap().as_deref(), Some("query: "));
        let per = model_prompts(&q, &d, &labels);
        assert_eq!(per["ruri"].query.as_deref(), Some("検索クエリ: "));
        assert_eq!(per["ruri"].document.as_deref(), Some("検索文書: "));
        assert!(!per.contains_key("e5"));
        let twice = vec!["query: ".to_string(), "q: ".to_string()];
        assert!(global_prompt("--query-prompt", &twice, &labels).unwrap_err().to_string().contains("LABEL=TEXT"));
    }

    /// The options are well formed (clap's own checks), and encode's help leaves out what only
    /// eval uses; those it has no use for are still read (a script may pass them to both), and
    /// `--truncate-dim` is refused with the reason.
    #[test]
    fn encode_help_shows_what_encode_uses() {
        use clap::{CommandFactory, Parser};
        super::Args::command().debug_assert();
        let help = super::Args::command().find_subcommand_mut("encode").unwrap().render_long_help().to_string();
        for hidden in ["--qrels", "--queries", "--split", "--min-relevance", "--api-concurrency", "--truncate-dim"] {
            assert!(!help.contains(hidden), "{hidden} in\n{help}");
        }
        assert!(help.contains("--shard") && help.contains("--doc-prompt"), "{help}");
        let parsed = super::Args::try_parse_from([
            "embeval", "encode", "--data", "d", "-m", "m", "--shard", "0/2", "--out", "o", "--split", "dev",
        ]);
        assert!(parsed.is_ok());
    }
}
