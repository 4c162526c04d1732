//! Pooling and normalisation, in one place for the CLI and the browser, as sentence-transformers'
//! `Pooling` and `Normalize` modules do them. Mean pooling averages only real tokens: padding is
//! masked out (candle's early wasm example averaged over padding, so the same model gave
//! different vectors in the two builds — never again).

use candle_core::{DType, Tensor, D};
use serde::{Deserialize, Serialize};

/// `1_Pooling/config.json`'s modes, one of which is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pooling {
    /// The first token (`[CLS]`, `<s>`).
    Cls,
    /// Mean of the token embeddings where the attention mask is 1.
    Mean,
    /// Element-wise max over real tokens.
    Max,
    /// Mean × sqrt(token count).
    MeanSqrtLen,
    /// The last real token (decoder models such as Qwen3-Embedding).
    LastToken,
}

#[derive(Deserialize)]
struct PoolingConfig {
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
    #[serde(default)]
    pooling_mode_mean_sqrt_len_tokens: bool,
    #[serde(default)]
    pooling_mode_lasttoken: bool,
    #[serde(default)]
    pooling_mode_weightedmean_tokens: bool,
    /// sentence-transformers ≥ 6 writes one name (`"cls"`, `"mean"`, `"lasttoken"`, ...) or a list.
    #[serde(default)]
    pooling_mode: Option<serde_json::Value>,
    #[serde(default = "yes")]
    include_prompt: bool,
}

fn yes() -> bool {
    true
}

impl Pooling {
    /// Reads `1_Pooling/config.json`, as sentence-transformers < 6 (`pooling_mode_*_token(s)`
    /// flags) or ≥ 6 (`pooling_mode`) writes it; exactly one supported mode must be on.
    pub fn from_config(json: &str) -> Result<Pooling, String> {
        let mut c: PoolingConfig = serde_json::from_str(json).map_err(|e| e.to_string())?;
        if !c.include_prompt {
            return Err("include_prompt false (prompt tokens left out of pooling) is not supported yet".into());
        }
        if let Some(mode) = c.pooling_mode.take() {
            let modes: Vec<serde_json::Value> = match mode {
                serde_json::Value::Array(a) => a,
                one => vec![one],
            };
            for m in modes {
                match m.as_str().unwrap_or("") {
                    "cls" => c.pooling_mode_cls_token = true,
                    "mean" => c.pooling_mode_mean_tokens = true,
                    "max" => c.pooling_mode_max_tokens = true,
                    "mean_sqrt_len_tokens" => c.pooling_mode_mean_sqrt_len_tokens = true,
                    "lasttoken" => c.pooling_mode_lasttoken = true,
                    "weightedmean" => c.pooling_mode_weightedmean_tokens = true,
                    _ => return Err(format!("unknown pooling_mode {m}")),
                }
            }
        }
        if c.pooling_mode_weightedmean_tokens {
            return Err("pooling_mode_weightedmean_tokens is not supported yet".into());
        }
        let on: Vec<Pooling> = [
            (c.pooling_mode_cls_token, Pooling::Cls),
            (c.pooling_mode_mean_tokens, Pooling::Mean),
            (c.pooling_mode_max_tokens, Pooling::Max),
            (c.pooling_mode_mean_sqrt_len_tokens, Pooling::MeanSqrtLen),
            (c.pooling_mode_lasttoken, Pooling::LastToken),
        ]
        .into_iter()
        .filter_map(|(b, p)| b.then_some(p))
        .collect();
        match on.as_slice() {
            [p] => Ok(*p),
            [] => Err("no pooling mode is on".into()),
            _ => Err("several pooling modes at once are not supported".into()),
        }
    }

    /// Pools `hidden` [batch, seq, dim] with `mask` [batch, seq] (1 = real token) into [batch, dim].
    /// Sequences are right-padded.
    pub fn apply(self, hidden: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
        let maskf = mask.to_dtype(hidden.dtype())?.unsqueeze(D::Minus1)?; // [b, s, 1]
        match self {
            Pooling::Cls => hidden.narrow(1, 0, 1)?.squeeze(1),
            Pooling::Mean | Pooling::MeanSqrtLen => {
                let sum = hidden.broadcast_mul(&maskf)?.sum(1)?; // [b, d]
                let count = maskf.sum(1)?.clamp(1e-9, f64::MAX)?; // [b, 1]
                let mean = sum.broadcast_div(&count)?;
                if self == Pooling::MeanSqrtLen {
                    mean.broadcast_mul(&count.sqrt()?)
                } else {
                    Ok(mean)
                }
            }
            Pooling::Max => {
                // Padding gets a large negative value so it never wins (as ST sets it to -1e9).
                let neg = ((maskf.ones_like()? - &maskf)? * -1e9)?;
                hidden.broadcast_add(&neg)?.max(1)
            }
            Pooling::LastToken => {
                let lens = mask.to_dtype(DType::F32)?.sum(1)?.to_vec1::<f32>()?;
                let rows = lens
                    .iter()
                    .enumerate()
                    .map(|(b, &n)| hidden.get(b)?.get((n as usize).max(1) - 1))
                    .collect::<candle_core::Result<Vec<_>>>()?;
                Tensor::stack(&rows, 0)
            }
        }
    }
}

/// L2-normalises each row (sentence-transformers' `Normalize`, torch's `F.normalize`, eps 1e-12).
pub fn normalize(x: &Tensor) -> candle_core::Result<Tensor> {
    let norm = x.sqr()?.sum_keepdim(D::Minus1)?.sqrt()?.clamp(1e-12, f64::MAX)?;
    x.broadcast_div(&norm)
}

#[cfg(test)]
mod tests {
    use super::Pooling;

    #[test]
    fn config_of_sentence_transformers_5_and_6() {
        let old = r#"{"word_embedding_dimension": 1024, "pooling_mode_cls_token": false,
                      "pooling_mode_mean_tokens": false, "pooling_mode_lasttoken": true}"#;
        assert_eq!(Pooling::from_config(old), Ok(Pooling::LastToken));
        let new = r#"{"embedding_dimension": 32, "pooling_mode": "lasttoken", "include_prompt": true}"#;
        assert_eq!(Pooling::from_config(new), Ok(Pooling::LastToken));
        assert_eq!(Pooling::from_config(r#"{"pooling_mode": ["cls"]}"#), Ok(Pooling::Cls));
        assert!(Pooling::from_config(r#"{"pooling_mode": ["cls", "mean"]}"#).is_err());
        assert!(Pooling::from_config(r#"{"pooling_mode": "mean", "include_prompt": false}"#).is_err());
        assert!(Pooling::from_config(r#"{"pooling_mode": "weightedmean"}"#).is_err());
    }
}
