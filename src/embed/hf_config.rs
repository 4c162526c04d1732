//! `config.json` as transformers 4.x and 5.x write it. 5.x drops fields that equal a default
//! (`position_embedding_type`), moves `rope_theta` into `rope_parameters` (one dict, or one per
//! attention type as ModernBERT's `full_attention` / `sliding_attention`) and lists
//! `layer_types` instead of `global_attn_every_n_layers`. The architecture files read fields
//! through these helpers, with transformers' own defaults, so configs from both versions load.

use serde_json::{Map, Value};

pub struct ConfigJson(Map<String, Value>);

impl ConfigJson {
    pub fn parse(config_json: &str) -> Result<ConfigJson, String> {
        match serde_json::from_str(config_json) {
            Ok(Value::Object(m)) => Ok(ConfigJson(m)),
            Ok(_) => Err("config.json: not a JSON object".into()),
            Err(e) => Err(format!("config.json: {e}")),
        }
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key).filter(|v| !v.is_null())
    }

    /// A whole number that must be there.
    pub fn usize(&self, key: &str) -> Result<usize, String> {
        self.usize_or(key, None)
    }

    /// A whole number, or `default` (transformers' own) when absent.
    pub fn usize_or(&self, key: &str, default: Option<usize>) -> Result<usize, String> {
        match self.get(key) {
            Some(v) => {
                v.as_u64().map(|n| n as usize).ok_or_else(|| format!("config.json: {key} must be a whole number"))
            }
            None => default.ok_or_else(|| format!("config.json: {key} is missing")),
        }
    }

    pub fn f64_or(&self, key: &str, default: f64) -> Result<f64, String> {
        match self.get(key) {
            Some(v) => v.as_f64().ok_or_else(|| format!("config.json: {key} must be a number")),
            None => Ok(default),
        }
    }

    pub fn bool_or(&self, key: &str, default: bool) -> Result<bool, String> {
        match self.get(key) {
            Some(v) => v.as_bool().ok_or_else(|| format!("config.json: {key} must be true or false")),
            None => Ok(default),
        }
    }

    pub fn str_or<'a>(&'a self, key: &str, default: &'a str) -> Result<&'a str, String> {
        match self.get(key) {
            Some(v) => v.as_str().ok_or_else(|| format!("config.json: {key} must be a string")),
            None => Ok(default),
        }
    }

    /// The RoPE base: 4.x `old_key` (`rope_theta`, `global_rope_theta`, ...) or 5.x
    /// `rope_parameters.rope_theta` / `rope_parameters[layer_type].rope_theta`. Only the default
    /// (unscaled) RoPE is implemented, so any `rope_type` / `rope_scaling` other than that is an error.
    pub fn rope_theta(&self, old_key: &str, layer_type: Option<&str>, default: f64) -> Result<f64, String> {
        let params = match (self.get("rope_parameters"), layer_type) {
            (Some(p), Some(t)) => p.get(t).filter(|v| !v.is_null()),
            (Some(p), None) => Some(p),
            (None, _) => None,
        };
        let scaling = self.get("rope_scaling");
        for p in params.into_iter().chain(scaling) {
            let kind = p.get("rope_type").or_else(|| p.get("type")).and_then(Value::as_str).unwrap_or("default");
            if kind != "default" {
                return Err(format!("config.json: RoPE type '{kind}' is not supported (default RoPE only)"));
            }
        }
        match params.and_then(|p| p.get("rope_theta")) {
            Some(v) => v.as_f64().ok_or_else(|| "config.json: rope_theta must be a number".into()),
            None => self.f64_or(old_key, default),
        }
    }

    /// 5.x `layer_types` (`full_attention`, `sliding_attention`), if the file has them.
    pub fn layer_types(&self) -> Result<Option<Vec<String>>, String> {
        match self.get("layer_types") {
            None => Ok(None),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| v.as_str().map(String::from).ok_or_else(|| "config.json: layer_types must be strings".into()))
                .collect::<Result<Vec<_>, String>>()
                .map(Some),
            Some(_) => Err("config.json: layer_types must be a list".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ConfigJson;

    #[test]
    fn rope_theta_from_4x_and_5x_configs() {
        let v4 = ConfigJson::parse(r#"{"rope_theta": 1000000.0, "rope_scaling": null}"#).unwrap();
        let v5 =
            ConfigJson::parse(r#"{"rope_parameters": {"rope_theta": 1000000.0, "rope_type": "default"}}"#).unwrap();
        assert_eq!(v4.rope_theta("rope_theta", None, 10000.0).unwrap(), 1e6);
        assert_eq!(v5.rope_theta("rope_theta", None, 10000.0).unwrap(), 1e6);
        let mb5 = ConfigJson::parse(
            r#"{"rope_parameters": {"full_attention": {"rope_theta": 160000.0, "rope_type": "default"},
                "sliding_attention": {"rope_theta": 10000.0, "rope_type": "default"}}}"#,
        )
        .unwrap();
        assert_eq!(mb5.rope_theta("global_rope_theta", Some("full_attention"), 1.0).unwrap(), 160000.0);
        assert_eq!(mb5.rope_theta("local_rope_theta", Some("sliding_attention"), 1.0).unwrap(), 10000.0);
        let mb4 = ConfigJson::parse(r#"{"global_rope_theta": 160000.0, "local_rope_theta": 10000.0}"#).unwrap();
        assert_eq!(mb4.rope_theta("global_rope_theta", Some("full_attention"), 1.0).unwrap(), 160000.0);
        assert_eq!(mb4.rope_theta("local_rope_theta", Some("sliding_attention"), 1.0).unwrap(), 10000.0);
        let yarn = ConfigJson::parse(r#"{"rope_parameters": {"rope_theta": 1.0, "rope_type": "yarn"}}"#).unwrap();
        assert!(yarn.rope_theta("rope_theta", None, 1.0).unwrap_err().contains("yarn"));
        let scaled = ConfigJson::parse(r#"{"rope_theta": 1.0, "rope_scaling": {"type": "linear"}}"#).unwrap();
        assert!(scaled.rope_theta("rope_theta", None, 1.0).unwrap_err().contains("linear"));
    }
}
